-- schema v10: the extent an annotation, an embedding or an export must fit in, written once (it was repeated in
-- queries/segments.sql, queries/childproject.sql, queries/embed.sql and export/export.sql).

-- Each recording's readable extent: the header's frames and duration, or validate's decoded count when
-- validate (for the file's current size and mtime) read fewer (a truncated file). Stats of an earlier version
-- of the file must neither shorten nor lengthen it. NULL where the header has none (unreadable files).
CREATE VIEW recording_extent AS
SELECT
    r.recording_id,
    CASE
        WHEN a.size_bytes = r.size_bytes AND a.mtime_ns = r.mtime_ns THEN least(coalesce(r.frames, a.frames_read), a.frames_read)
        ELSE r.frames
    END AS frames,
    CASE
        WHEN a.size_bytes = r.size_bytes AND a.mtime_ns = r.mtime_ns
            THEN least(coalesce(r.duration_sec, a.duration_sec), a.duration_sec)
        ELSE r.duration_sec
    END AS duration_sec
FROM recordings AS r
LEFT JOIN audio_stats AS a USING (recording_id);
