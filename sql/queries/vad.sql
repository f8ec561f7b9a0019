-- Queries of `homecat vad`, `homecat vad import` / `export` (homecat/vad.py, homecat/speech.py) and `homecat report timeline`.

-- name: vad_candidates
-- Every usable recording (readable, validated for its current size and mtime, no error finding: the rule
-- of splits and crops) with whether its 'silero' rows describe this file version and these settings.
-- $settings_hash: the hash of the VAD settings now.
SELECT
    r.recording_id, r.rel_path, r.path, r.size_bytes, r.mtime_ns, coalesce(a.duration_sec, r.duration_sec, 0) AS duration_sec,
    coalesce(v.size_bytes = r.size_bytes AND v.mtime_ns = r.mtime_ns AND v.settings_hash = $settings_hash, false)
        AS current,
    r.path_bytes  -- the exact name when it is not valid UTF-8 (homecat.scan.fs_path)
FROM recordings AS r
JOIN audio_stats AS a USING (recording_id)
LEFT JOIN vad_state AS v USING (recording_id)
WHERE r.status = 'ok'
  AND a.size_bytes = r.size_bytes AND a.mtime_ns = r.mtime_ns
  AND NOT EXISTS (SELECT 1 FROM findings AS f WHERE f.recording_id = r.recording_id AND f.severity = 'error')
ORDER BY r.rel_path;

-- name: speech_rows
-- Speech rows of the chosen sources (all when $sources is empty), in a stable order for export.
SELECT recording_id, start_sec, end_sec, source, label
FROM speech
WHERE len($sources) = 0 OR list_contains($sources, source)
ORDER BY recording_id, start_sec, end_sec, source, label;

-- name: timeline_recording
-- The validated recording whose rel_path or recording_id is $name, with its window length and threshold.
SELECT r.recording_id, r.rel_path, a.duration_sec, a.window_sec, a.activity_threshold_dbfs
FROM recordings AS r
JOIN audio_stats AS a USING (recording_id)
WHERE r.rel_path = $name OR r.recording_id = $name
ORDER BY r.rel_path = $name DESC
LIMIT 1;

-- name: timeline_levels
-- The window RMS levels (dBFS) of recording $recording_id, in time order.
SELECT rms_dbfs FROM levels WHERE recording_id = $recording_id ORDER BY window_index;

-- name: timeline_turns
-- Every speech turn of recording $recording_id as (source/label lane, start_sec, end_sec), in a stable order.
SELECT source || '/' || label AS lane, start_sec, end_sec
FROM speech
WHERE recording_id = $recording_id
ORDER BY ALL;

-- name: timeline_clock
-- The wall-clock start (UTC) of each part of recording $recording_id (from a LENA .its import), in part order.
SELECT part, start_sec, end_sec, start_clock FROM recording_clock WHERE recording_id = $recording_id ORDER BY part;
