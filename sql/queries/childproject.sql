-- Queries of the ChildProject importers (homecat/childproject/annotations.py).

-- name: annotation_targets
-- Every recording a ChildProject scan listed, by its recording_filename (how annotations.csv names it),
-- with its status and the duration annotations must fit in: the header's, or validate's decoded
-- duration when validate (for the current file version) counted fewer frames.
SELECT
    m.recording_filename,
    r.recording_id,
    r.status,
    CASE
        WHEN a.recording_id IS NOT NULL AND a.size_bytes = r.size_bytes AND a.mtime_ns = r.mtime_ns
            THEN least(coalesce(r.duration_sec, a.duration_sec), a.duration_sec)
        ELSE r.duration_sec
    END AS duration_sec
FROM recording_meta AS m
JOIN recordings AS r USING (recording_id)
LEFT JOIN audio_stats AS a USING (recording_id)
ORDER BY m.recording_filename;
