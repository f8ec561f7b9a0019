-- Queries and writes of `homecat segments import` and `export` (homecat/segments.py, homecat/segments_export.py).

-- name: segment_recordings
-- Every recording an annotation may refer to, with the duration its intervals must fit in (view
-- recording_extent: the header's, or validate's decoded duration of a truncated file). NULL for unreadable files.
SELECT r.recording_id, r.rel_path, r.status, e.duration_sec
FROM recordings AS r
JOIN recording_extent AS e USING (recording_id)
ORDER BY r.rel_path;

-- name: export_segments
-- Segments of the chosen sources ($sources; empty: all) for `homecat segments export`, one event once
-- (repeats of another file within $tolerance_sec left out), with what an annotation file of the recording
-- needs: its path and duration, and its rel_path (which names the file written). In recording, tier and time order.
SELECT
    s.recording_id, r.path, coalesce(r.duration_sec, max(s.end_sec) OVER (PARTITION BY s.recording_id)) AS duration_sec,
    s.start_sec, s.end_sec, s.label, s.tier, r.rel_path
FROM segments AS s
JOIN recordings AS r USING (recording_id)
WHERE (len($sources) = 0 OR list_contains($sources, s.source))
  AND s.segment_id NOT IN (SELECT segment_id FROM segment_duplicates($tolerance_sec))
ORDER BY s.recording_id, s.tier, s.start_sec, s.end_sec, s.label;

-- name: forget_source
-- Every segment of annotation file $source, before its new import is stored.
DELETE FROM segments WHERE source = $source;

-- name: add_segments
-- The segments of annotation file $source imported at $now (the registered table _new_segments).
INSERT INTO segments (segment_id, recording_id, start_sec, end_sec, label, tier, parent_tier, source, imported_at)
SELECT segment_id, recording_id, start_sec, end_sec, label, tier, parent_tier, $source, $now FROM _new_segments;

-- name: forget_skipped
-- The findings ($code, stage $stage) of the intervals an earlier import of $source skipped: findings have no
-- source column, and these messages start with "<source>: ".
DELETE FROM findings WHERE stage = $stage AND code = $code AND starts_with(message, $source || ': ');

-- name: add_skipped
-- One skipped interval's warning: (recording_id, code, message, stage, found_at).
INSERT INTO findings VALUES (?, ?, 'warning', ?, ?, ?);
