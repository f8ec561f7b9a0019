-- name: silence
-- Activity per recording and per participant, from the stored window levels (no audio is read):
-- hours, active hours, silent share and the longest silent stretch. A window is active when its RMS
-- reaches the recording's activity threshold, or $threshold_db (dBFS) for every recording when given.
WITH judged AS (
    SELECT
        l.recording_id,
        l.window_index,
        -- the last window of a recording may be shorter than window_sec
        least(a.window_sec, a.duration_sec - l.window_index * a.window_sec) AS sec,
        l.rms_dbfs >= coalesce(CAST($threshold_db AS DOUBLE), a.activity_threshold_dbfs) AS active
    FROM levels l JOIN audio_stats a USING (recording_id)
),
runs AS (  -- consecutive silent windows share a run id (gaps and islands)
    SELECT recording_id, sum(sec) AS sec
    FROM (
        SELECT *, window_index - row_number() OVER (PARTITION BY recording_id, active ORDER BY window_index) AS run
        FROM judged
    )
    WHERE NOT active
    GROUP BY recording_id, run
),
per_recording AS (
    SELECT
        r.participant_id,
        r.recording_id,
        a.duration_sec / 3600.0 AS hours,
        coalesce(sum(j.sec) FILTER (WHERE j.active), 0) / 3600.0 AS active_hours,
        coalesce((SELECT max(sec) FROM runs WHERE runs.recording_id = r.recording_id), 0) / 60.0 AS longest_silent_min,
        coalesce(CAST($threshold_db AS DOUBLE), a.activity_threshold_dbfs) AS threshold_dbfs,
        CASE WHEN $threshold_db IS NULL THEN a.threshold_source ELSE 'query' END AS threshold_source
    FROM recordings r
    JOIN audio_stats a USING (recording_id)
    LEFT JOIN judged j USING (recording_id)
    WHERE r.status = 'ok'
    GROUP BY ALL
)
SELECT level, participant_id, recording_id, hours, active_hours, silent_share, longest_silent_min,
       threshold_dbfs, threshold_source
FROM (
    SELECT 'recording' AS level, participant_id, recording_id, round(hours, 4) AS hours,
           round(active_hours, 4) AS active_hours,
           round(1 - active_hours / nullif(hours, 0), 4) AS silent_share,
           round(longest_silent_min, 2) AS longest_silent_min,
           round(threshold_dbfs, 2) AS threshold_dbfs, threshold_source
    FROM per_recording
    UNION ALL
    SELECT 'participant', participant_id, NULL, round(sum(hours), 4), round(sum(active_hours), 4),
           round(1 - sum(active_hours) / nullif(sum(hours), 0), 4), round(max(longest_silent_min), 2), NULL, NULL
    FROM per_recording
    GROUP BY participant_id
)
ORDER BY participant_id, level = 'participant', recording_id;
