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

-- name: timeline_segments
-- Every annotated segment of recording $recording_id as (tier, label, start_sec, end_sec), one event once (repeats
-- of another file within $tolerance_sec left out), in a stable order.
SELECT coalesce(nullif(tier, ''), 'segments') AS tier, label, start_sec, end_sec
FROM segments
WHERE recording_id = $recording_id
  AND segment_id NOT IN (SELECT segment_id FROM segment_duplicates($tolerance_sec))
ORDER BY ALL;

-- name: timeline_clock
-- The wall-clock start (UTC) of each part of recording $recording_id (from a LENA .its import) and the local
-- time's offset from UTC in minutes (NULL where the file gives none), in part order.
SELECT part, start_sec, end_sec, start_clock, utc_offset_min
FROM recording_clock WHERE recording_id = $recording_id ORDER BY part;

-- name: forget_vad_state
-- What `homecat vad` last did to recording $recording_id, before its new run is stored.
DELETE FROM vad_state WHERE recording_id = $recording_id;

-- name: store_vad_state
-- What `homecat vad` did to recording $recording_id: the file version it read, the hash of its settings, the
-- seconds of speech found.
INSERT INTO vad_state VALUES ($recording_id, $size_bytes, $mtime_ns, $settings_hash, $speech_sec, $processed_at);

-- name: forget_speech_source
-- Every speech row of source $source (homecat/speech.py replaces a source's rows).
DELETE FROM speech WHERE source = $source;

-- name: forget_speech_of
-- The speech rows of source $source on the recordings of the registered table replaced_ids (recording_id).
DELETE FROM speech WHERE source = $source AND recording_id IN (SELECT recording_id FROM replaced_ids);

-- name: add_speech
-- Speech rows (the registered table speech_batch, in the columns of speech), in a stable order.
INSERT INTO speech SELECT * FROM speech_batch ORDER BY recording_id, start_sec, end_sec, label;

-- name: forget_skipped_rows
-- The findings ($code, stage $stage) of the bad rows an earlier import of the file named $name skipped:
-- their messages start with "<name>, " or "<name>: ".
DELETE FROM findings
WHERE stage = $stage AND code = $code AND (starts_with(message, $name || ', ') OR starts_with(message, $name || ': '));

-- name: add_skipped_row
-- One skipped row's warning: (recording_id, code, message, stage, found_at).
INSERT INTO findings VALUES (?, ?, 'warning', ?, ?, ?);
