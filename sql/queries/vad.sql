-- Queries of `homecat vad` and `homecat vad import` / `export` (homecat/vad.py).

-- name: vad_candidates
-- Every usable recording (readable, validated for its current size and mtime, no error finding: the rule
-- of splits and crops) with whether its 'silero' rows describe this file version and these settings.
-- $settings_hash: the hash of the VAD settings now.
SELECT
    r.recording_id, r.rel_path, r.path, r.size_bytes, r.mtime_ns, coalesce(a.duration_sec, r.duration_sec, 0) AS duration_sec,
    coalesce(v.size_bytes = r.size_bytes AND v.mtime_ns = r.mtime_ns AND v.settings_hash = $settings_hash, false)
        AS current
FROM recordings AS r
JOIN audio_stats AS a USING (recording_id)
LEFT JOIN vad_state AS v USING (recording_id)
WHERE r.status = 'ok'
  AND a.size_bytes = r.size_bytes AND a.mtime_ns = r.mtime_ns
  AND NOT EXISTS (SELECT 1 FROM findings AS f WHERE f.recording_id = r.recording_id AND f.severity = 'error')
ORDER BY r.rel_path;

-- name: rttm_targets
-- What an RTTM file-id can name: every recording by its id, with its rel_path (for the file stem) and
-- its duration (frames read by validation where known, else the header's).
SELECT r.recording_id, r.rel_path, coalesce(a.duration_sec, r.duration_sec) AS duration_sec
FROM recordings AS r
LEFT JOIN audio_stats AS a USING (recording_id)
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
