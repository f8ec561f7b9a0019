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
-- Readable recordings without an error finding, as lhotse Recordings (one JSON object each, lhotse's keys):
-- the original file with every channel, the rate, and frames (view recording_extent: validate's decoded count
-- for the current file version when it has one, else the header's).
WITH r AS (
    SELECT r.recording_id, r.path, r.sample_rate, r.channels, e.frames
    FROM recordings AS r
    JOIN recording_extent AS e USING (recording_id)
    WHERE r.status = 'ok' AND r.sample_rate IS NOT NULL AND r.frames IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM findings AS f WHERE f.recording_id = r.recording_id AND f.severity = 'error')
)
SELECT
    recording_id AS id,
    [{'type': 'file', 'channels': range(channels), 'source': path}] AS sources,
    sample_rate AS sampling_rate,
    frames AS num_samples,
    frames / sample_rate AS duration,
    range(channels) AS channel_ids
FROM r
ORDER BY recording_id;

-- name: lhotse_supervisions
-- Segments (one event once: repeats of another file within $tolerance_sec left out) and current speech rows
-- of the recordings lhotse_recordings exports, as lhotse SupervisionSegments: speaker = the label, custom =
-- kind, source and tier; channel by $channel_policy ('mean': every channel of a multi-channel file, 'first',
-- or a channel index as text). A speech row's id hashes its source, recording, times, label and its rank
-- among identical rows.
WITH exported AS (
    SELECT r.recording_id, r.channels FROM recordings AS r
    WHERE r.status = 'ok' AND r.sample_rate IS NOT NULL AND r.frames IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM findings AS f WHERE f.recording_id = r.recording_id AND f.severity = 'error')
),
rows AS (
    SELECT segment_id AS id, recording_id, start_sec, end_sec, label, 'segment' AS kind, source, tier
    FROM segments
    WHERE segment_id NOT IN (SELECT segment_id FROM segment_duplicates($tolerance_sec))
    UNION ALL
    SELECT
        'sp-' || left(sha1(concat_ws(chr(31), source, recording_id, start_sec, end_sec, label,
            row_number() OVER (PARTITION BY source, recording_id, start_sec, end_sec, label))), 16),
        recording_id, start_sec, end_sec, label, 'speech', source, ''
    FROM current_speech
)
SELECT
    x.id,
    x.recording_id,
    x.start_sec AS start,
    round(x.end_sec - x.start_sec, 6) AS duration,
    CASE
        WHEN $channel_policy = 'mean' AND e.channels > 1 THEN to_json(range(e.channels))
        WHEN $channel_policy IN ('mean', 'first') THEN to_json(0)
        ELSE to_json(least(try_cast($channel_policy AS INTEGER), e.channels - 1))
    END AS channel,
    x.label AS speaker,
    {'kind': x.kind, 'source': x.source, 'tier': x.tier} AS custom
FROM rows AS x
JOIN exported AS e USING (recording_id)
ORDER BY x.recording_id, x.start_sec, x.end_sec, x.id;
