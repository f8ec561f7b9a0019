-- name: splits
-- Hours, recordings and participants per split, and the leakage check: leaked_participants counts
-- named participants whose family (where known, else themselves) has recordings in more than one split
-- (must be 0). Each 'unknown' recording counts as a participant of its own. 'left the splits' counts
-- recordings removed and not back.
WITH s AS (
    SELECT
        s.recording_id, s.split,
        CASE WHEN s.participant_id = 'unknown' THEN 'unknown:' || s.recording_id ELSE s.participant_id END AS grp,
        coalesce(g.group_key, s.participant_id) AS family_key,
        coalesce(a.duration_sec, r.duration_sec, 0) AS duration_sec
    FROM splits AS s
    JOIN recordings AS r USING (recording_id)
    LEFT JOIN recording_groups AS g USING (recording_id)
    LEFT JOIN audio_stats AS a USING (recording_id)
),
leaked AS (
    SELECT DISTINCT grp FROM s WHERE family_key IN (
        SELECT family_key FROM s GROUP BY family_key HAVING count(DISTINCT split) > 1
    )
),
total AS (
    SELECT sum(duration_sec) AS sec FROM s
),
per_split AS (
    SELECT
        split,
        count(*) AS recordings,
        count(DISTINCT grp) AS participants,
        round(sum(duration_sec) / 3600.0, 3) AS hours,
        round(sum(duration_sec) / nullif((SELECT sec FROM total), 0), 3) AS share_of_hours,
        count(DISTINCT grp) FILTER (WHERE grp IN (SELECT grp FROM leaked)) AS leaked_participants
    FROM s GROUP BY split
)
SELECT * FROM per_split
UNION ALL
SELECT
    'all', (SELECT count(*) FROM s), (SELECT count(DISTINCT grp) FROM s),
    round(coalesce((SELECT sec FROM total), 0) / 3600.0, 3), 1.0, (SELECT count(*) FROM leaked)
UNION ALL
SELECT
    'left the splits',
    (SELECT count(DISTINCT recording_id) FROM split_removals WHERE recording_id NOT IN (SELECT recording_id FROM splits)),
    NULL, NULL, NULL, NULL
ORDER BY list_position(['train', 'dev', 'test', 'all', 'left the splits'], split);

-- name: split_families
-- Which families (where known; `homecat report splits` lists them) went to each split: their children and
-- recordings there, and hours. A family in two splits is a leak, shown on both.
SELECT
    s.split, g.family_id, count(DISTINCT s.participant_id) AS children, count(*) AS recordings,
    round(sum(coalesce(a.duration_sec, r.duration_sec, 0)) / 3600.0, 3) AS hours
FROM splits AS s
JOIN recordings AS r USING (recording_id)
JOIN recording_groups AS g USING (recording_id)
LEFT JOIN audio_stats AS a USING (recording_id)
WHERE g.family_id IS NOT NULL
GROUP BY s.split, g.family_id
ORDER BY list_position(['train', 'dev', 'test'], s.split), g.family_id;
