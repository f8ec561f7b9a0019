-- name: summary
-- Files, hours and participants in total and by status, format, sample rate and channels.
-- Hours count only readable recordings (status 'ok'); unreadable and missing files count as files.
-- validation: 'with errors' (an error finding, or unreadable), 'validated' (current stats, no error),
-- 'needs validation' (readable, never validated or changed since), 'missing'.
-- age_band and child_age_band (hours per band, and per child and band) where the child's age at the recording
-- is known (view recording_ages: ChildProject metadata, or a date of birth and a recording date from the path,
-- a recordings table or a LENA clock; bands of months: 00-06, 06-12, ..., 36+); no_age: files (not missing)
-- without an age, by why (no date of birth, no recording date, ...).
SELECT
    CASE
        WHEN GROUPING(status) = 0 THEN 'status'
        WHEN GROUPING(format) = 0 THEN 'format'
        WHEN GROUPING(sample_rate) = 0 THEN 'sample_rate'
        WHEN GROUPING(channels) = 0 THEN 'channels'
        WHEN GROUPING(validation) = 0 THEN 'validation'
        WHEN GROUPING(participant_id) = 0 THEN 'child_age_band'
        WHEN GROUPING(age_band) = 0 THEN 'age_band'
        WHEN GROUPING(no_age) = 0 THEN 'no_age'
        ELSE 'total'
    END AS dimension,
    CASE
        WHEN GROUPING(status) = 0 THEN status
        WHEN GROUPING(format) = 0 THEN coalesce(format, '(no header)')
        WHEN GROUPING(sample_rate) = 0 THEN coalesce(CAST(sample_rate AS VARCHAR), '(no header)')
        WHEN GROUPING(channels) = 0 THEN coalesce(CAST(channels AS VARCHAR), '(no header)')
        WHEN GROUPING(validation) = 0 THEN validation
        WHEN GROUPING(participant_id) = 0 THEN participant_id || ' ' || age_band
        WHEN GROUPING(age_band) = 0 THEN age_band
        WHEN GROUPING(no_age) = 0 THEN no_age
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
        END AS validation,
        g.age_band,
        CASE WHEN r.status <> 'missing' THEN g.age_missing_because END AS no_age
    FROM recordings r LEFT JOIN audio_stats a USING (recording_id) LEFT JOIN recording_ages g USING (recording_id)
)
GROUP BY GROUPING SETS (
    (), (status), (format), (sample_rate), (channels), (validation), (age_band), (participant_id, age_band), (no_age)
)
-- no age rows for recordings of unknown age, no no_age rows for those with one
HAVING (GROUPING(age_band) = 1 OR age_band IS NOT NULL) AND (GROUPING(no_age) = 1 OR no_age IS NOT NULL)
ORDER BY
    list_position(
        ['total', 'status', 'format', 'sample_rate', 'channels', 'validation', 'age_band', 'child_age_band', 'no_age'], dimension
    ),
    value;
