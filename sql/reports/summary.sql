-- name: summary
-- Files, hours and participants in total and by status, format, sample rate and channels.
-- Hours count only readable recordings (status 'ok'); unreadable and missing files count as files.
-- validation: 'with errors' (an error finding, or unreadable), 'validated' (current stats, no error),
-- 'needs validation' (readable, never validated or changed since), 'missing'.
SELECT
    CASE
        WHEN GROUPING(status) = 0 THEN 'status'
        WHEN GROUPING(format) = 0 THEN 'format'
        WHEN GROUPING(sample_rate) = 0 THEN 'sample_rate'
        WHEN GROUPING(channels) = 0 THEN 'channels'
        WHEN GROUPING(validation) = 0 THEN 'validation'
        ELSE 'total'
    END AS dimension,
    CASE
        WHEN GROUPING(status) = 0 THEN status
        WHEN GROUPING(format) = 0 THEN coalesce(format, '(no header)')
        WHEN GROUPING(sample_rate) = 0 THEN coalesce(CAST(sample_rate AS VARCHAR), '(no header)')
        WHEN GROUPING(channels) = 0 THEN coalesce(CAST(channels AS VARCHAR), '(no header)')
        WHEN GROUPING(validation) = 0 THEN validation
        ELSE 'all'
    END AS value,
    count(*) AS files,
    round(coalesce(sum(duration_sec) FILTER (WHERE status = 'ok'), 0) / 3600.0, 3) AS hours,
    count(DISTINCT participant_id) AS participants
FROM (
    SELECT r.*,
        CASE
            WHEN r.status = 'missing' THEN 'missing'
            WHEN r.status = 'unreadable'
                OR EXISTS (SELECT 1 FROM findings f WHERE f.recording_id = r.recording_id AND f.severity = 'error')
                THEN 'with errors'
            WHEN a.size_bytes = r.size_bytes AND a.mtime_ns = r.mtime_ns THEN 'validated'
            ELSE 'needs validation'
        END AS validation
    FROM recordings r LEFT JOIN audio_stats a USING (recording_id)
)
GROUP BY GROUPING SETS ((), (status), (format), (sample_rate), (channels), (validation))
ORDER BY
    list_position(['total', 'status', 'format', 'sample_rate', 'channels', 'validation'], dimension),
    value;
