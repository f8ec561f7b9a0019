-- Queries of `homecat report activity --against SOURCE` (homecat/agreement.py): the VAD the crop policy uses
-- against a reference (human annotations, or another tool's speech rows), on the stretches the reference covers.

-- name: agreement_sources
-- Every source a reference can be: ('segments' | 'speech', source, rows), in a stable order.
SELECT 'segments' AS target, source, count(*) AS n FROM segments GROUP BY source
UNION ALL
SELECT 'speech', source, count(*) FROM speech GROUP BY source
ORDER BY ALL;

-- name: agreement_reference
-- The reference intervals: rows of source $source in table $target ('segments' or 'speech'), every label.
SELECT recording_id, start_sec, end_sec FROM segments WHERE $target = 'segments' AND source = $source
UNION ALL
SELECT recording_id, start_sec, end_sec FROM speech WHERE $target = 'speech' AND source = $source
ORDER BY ALL;

-- name: agreement_system
-- The compared speech rows: source $system, only labels $labels (all when empty), of the recordings $recordings.
SELECT recording_id, start_sec, end_sec
FROM speech
WHERE source = $system
  AND (len($labels) = 0 OR list_contains($labels, label))
  AND list_contains($recordings, recording_id)
ORDER BY ALL;

-- name: agreement_scope
-- What the reference covers: its annotated ranges ($target, $source) where an import stored them (ChildProject
-- sets), with each recording's rel_path and readable extent (the whole recording where no range is stored).
SELECT r.recording_id, r.rel_path, e.duration_sec, g.start_sec, g.end_sec
FROM recordings AS r
JOIN recording_extent AS e USING (recording_id)
LEFT JOIN annotated_ranges AS g ON g.recording_id = r.recording_id AND g.target = $target AND g.source = $source
WHERE list_contains($recordings, r.recording_id)
ORDER BY r.rel_path, g.start_sec;
