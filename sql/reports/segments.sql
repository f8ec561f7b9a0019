-- name: segments
-- Imported annotated segments per tier, label and participant: segments, recordings and hours, with
-- an '(all)' row per tier and label totalling every participant (its `participants` column says how
-- many families have that label: a probe needs several). `duplicates`: segments that repeat one of
-- another file (same recording and label, boundaries within segments.duplicate_tolerance_sec); left out of
-- segments and hours, and out of probes.
SELECT
    s.tier,
    s.label,
    CASE WHEN grouping(r.participant_id) = 1 THEN '(all)' ELSE coalesce(r.participant_id, 'unknown') END
        AS participant_id,
    count(DISTINCT coalesce(r.participant_id, 'unknown')) AS participants,
    count(DISTINCT s.recording_id) AS recordings,
    count(*) FILTER (WHERE d.duplicate_of IS NULL) AS segments,
    count(d.duplicate_of) AS duplicates,
    round(coalesce(sum(s.end_sec - s.start_sec) FILTER (WHERE d.duplicate_of IS NULL), 0) / 3600.0, 4) AS hours,
    round(avg(s.end_sec - s.start_sec) FILTER (WHERE d.duplicate_of IS NULL), 3) AS mean_sec
FROM segments AS s
LEFT JOIN recordings AS r USING (recording_id)
LEFT JOIN segment_duplicates($tolerance_sec) AS d USING (segment_id)
GROUP BY GROUPING SETS ((s.tier, s.label, r.participant_id), (s.tier, s.label))
ORDER BY s.tier, s.label, grouping(r.participant_id), participant_id;
