-- Queries behind `homecat export DIR`: each becomes one file (see homecat/export.py, EXPORTS).

-- name: raw_audio_manifest
-- Every recording the catalog knows, one row per file, by path.
SELECT * FROM recordings ORDER BY rel_path;

-- name: invalid_files
-- Recordings with at least one error finding (or unreadable), with all their findings as a list.
SELECT
    r.recording_id, r.rel_path, r.participant_id, r.status,
    list(f.code ORDER BY f.code) FILTER (WHERE f.severity = 'error') AS error_codes,
    list({'code': f.code, 'severity': f.severity, 'message': f.message, 'stage': f.stage}
         ORDER BY list_position(['error', 'warning', 'info'], f.severity), f.code) AS findings
FROM recordings r JOIN findings f USING (recording_id)
WHERE r.recording_id IN (SELECT recording_id FROM findings WHERE severity = 'error')
GROUP BY ALL
ORDER BY r.rel_path;

-- name: audio_stats
-- Whole-file statistics of every validated recording, with its path and participant.
SELECT r.rel_path, r.participant_id, a.*
FROM audio_stats a JOIN recordings r USING (recording_id)
ORDER BY r.rel_path;

-- name: lhotse_recordings
-- Readable recordings without an error finding, as lhotse Recordings: the audio's path, rate, channels and
-- frames (validate's decoded count for the current file version when it has one, else the header's).
SELECT
    r.recording_id,
    r.path,
    r.sample_rate,
    r.channels,
    CASE
        WHEN a.size_bytes = r.size_bytes AND a.mtime_ns = r.mtime_ns THEN least(coalesce(r.frames, a.frames_read), a.frames_read)
        ELSE r.frames
    END AS frames
FROM recordings AS r
LEFT JOIN audio_stats AS a USING (recording_id)
WHERE r.status = 'ok' AND r.sample_rate IS NOT NULL AND r.frames IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM findings AS f WHERE f.recording_id = r.recording_id AND f.severity = 'error')
ORDER BY r.recording_id;

-- name: lhotse_supervisions
-- Segments (one event once: repeats of another file within $tolerance_sec left out) and current speech rows
-- of the recordings lhotse_recordings exports, as (id, recording_id, start_sec, end_sec, label, kind, source,
-- tier). A speech row's id hashes its source, recording, times, label and its rank among identical rows.
WITH exported AS (
    SELECT r.recording_id FROM recordings AS r
    WHERE r.status = 'ok' AND r.sample_rate IS NOT NULL AND r.frames IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM findings AS f WHERE f.recording_id = r.recording_id AND f.severity = 'error')
)
SELECT segment_id AS id, recording_id, start_sec, end_sec, label, 'segment' AS kind, source, tier
FROM segments
WHERE recording_id IN (SELECT recording_id FROM exported)
  AND segment_id NOT IN (SELECT segment_id FROM segment_duplicates($tolerance_sec))
UNION ALL
SELECT
    'sp-' || left(sha1(concat_ws(chr(31), source, recording_id, start_sec, end_sec, label,
        row_number() OVER (PARTITION BY source, recording_id, start_sec, end_sec, label))), 16) AS id,
    recording_id, start_sec, end_sec, label, 'speech' AS kind, source, '' AS tier
FROM current_speech
WHERE recording_id IN (SELECT recording_id FROM exported)
ORDER BY recording_id, start_sec, end_sec, id;
