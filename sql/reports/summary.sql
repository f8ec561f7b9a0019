-- name: summary
-- Files, hours and participants in total and by status, format, sample rate and channels.
-- Hours count only readable recordings (status 'ok'); unreadable and missing files count as files.
SELECT
    CASE
        WHEN GROUPING(status) = 0 THEN 'status'
        WHEN GROUPING(format) = 0 THEN 'format'
        WHEN GROUPING(sample_rate) = 0 THEN 'sample_rate'
        WHEN GROUPING(channels) = 0 THEN 'channels'
        ELSE 'total'
    END AS dimension,
    CASE
        WHEN GROUPING(status) = 0 THEN status
        WHEN GROUPING(format) = 0 THEN coalesce(format, '(no header)')
        WHEN GROUPING(sample_rate) = 0 THEN coalesce(CAST(sample_rate AS VARCHAR), '(no header)')
        WHEN GROUPING(channels) = 0 THEN coalesce(CAST(channels AS VARCHAR), '(no header)')
        ELSE 'all'
    END AS value,
    count(*) AS files,
    round(coalesce(sum(duration_sec) FILTER (WHERE status = 'ok'), 0) / 3600.0, 3) AS hours,
    count(DISTINCT participant_id) AS participants
FROM recordings
GROUP BY GROUPING SETS ((), (status), (format), (sample_rate), (channels))
ORDER BY
    list_position(['total', 'status', 'format', 'sample_rate', 'channels'], dimension),
    value;
