-- Queries of `homecat segments import` (homecat/segments.py).

-- name: segment_recordings
-- Every recording an annotation may refer to, with the duration its intervals must fit in: the
-- header's duration, or validate's decoded duration when validate (for the current file version)
-- counted fewer frames (a truncated file). NULL for unreadable files.
SELECT
    r.recording_id,
    r.rel_path,
    r.status,
    CASE
        WHEN a.recording_id IS NOT NULL AND a.size_bytes = r.size_bytes AND a.mtime_ns = r.mtime_ns
            THEN least(coalesce(r.duration_sec, a.duration_sec), a.duration_sec)
        ELSE r.duration_sec
    END AS duration_sec
FROM recordings AS r
LEFT JOIN audio_stats AS a USING (recording_id)
ORDER BY r.rel_path;
