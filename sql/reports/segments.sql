-- name: segments
-- Imported annotated segments per tier, label and participant: segments, recordings and hours, with
-- an '(all)' row per tier and label totalling every participant (its `participants` column says how
-- many families have that label: a probe needs several).
SELECT
    s.tier,
    s.label,
    CASE WHEN grouping(r.participant_id) = 1 THEN '(all)' ELSE coalesce(r.participant_id, 'unknown') END
        AS participant_id,
    count(DISTINCT coalesce(r.participant_id, 'unknown')) AS participants,
    count(DISTINCT s.recording_id) AS recordings,
    count(*) AS segments,
    round(sum(s.end_sec - s.start_sec) / 3600.0, 4) AS hours,
    round(avg(s.end_sec - s.start_sec), 3) AS mean_sec
FROM segments AS s
LEFT JOIN recordings AS r USING (recording_id)
GROUP BY GROUPING SETS ((s.tier, s.label, r.participant_id), (s.tier, s.label))
ORDER BY s.tier, s.label, grouping(r.participant_id), participant_id;
