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
