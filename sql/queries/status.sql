-- Queries of `homecat status` (homecat/status.py).

-- name: status
-- One row: what the catalog holds. Recordings by status and hours; ok recordings validated for their current
-- version; usable ones (validated, no error finding) and how many of those are in a split; findings by
-- severity; recordings that $speech_source covers (silero: `homecat vad` ran on the current version; another
-- source: an imported annotation set covers some of it); segments and their sources; split sizes; embedding
-- sets and probe results.
WITH rec AS (
    SELECT r.recording_id, r.status, r.duration_sec,
        r.status = 'ok' AND a.size_bytes = r.size_bytes AND a.mtime_ns = r.mtime_ns AS validated,
        EXISTS (SELECT 1 FROM findings f WHERE f.recording_id = r.recording_id AND f.severity = 'error') AS has_error,
        ($speech_source = 'silero' AND v.size_bytes = r.size_bytes AND v.mtime_ns = r.mtime_ns)
            OR EXISTS (SELECT 1 FROM annotated_ranges ar WHERE ar.recording_id = r.recording_id
                       AND ar.target = 'speech' AND ar.source = $speech_source)
            OR ($speech_source <> 'silero' AND EXISTS (SELECT 1 FROM speech sp WHERE sp.recording_id = r.recording_id
                       AND sp.source = $speech_source)) AS speech_covered,
        s.split
    FROM recordings AS r
    LEFT JOIN audio_stats AS a USING (recording_id)
    LEFT JOIN vad_state AS v USING (recording_id)
    LEFT JOIN splits AS s USING (recording_id)
)
SELECT
    count(*) AS recordings,
    count(*) FILTER (WHERE status = 'ok') AS readable,
    count(*) FILTER (WHERE status = 'unreadable') AS unreadable,
    count(*) FILTER (WHERE status = 'missing') AS missing,
    round(coalesce(sum(duration_sec) FILTER (WHERE status = 'ok'), 0) / 3600.0, 3) AS readable_hours,
    count(*) FILTER (WHERE validated) AS validated,
    count(*) FILTER (WHERE validated AND NOT has_error) AS usable,
    count(*) FILTER (WHERE validated AND NOT has_error AND coalesce(speech_covered, false)) AS usable_with_speech,
    count(*) FILTER (WHERE validated AND NOT has_error AND split IS NOT NULL) AS usable_in_a_split,
    count(*) FILTER (WHERE split = 'train') AS train,
    count(*) FILTER (WHERE split = 'dev') AS dev,
    count(*) FILTER (WHERE split = 'test') AS test,
    (SELECT count(*) FROM findings WHERE severity = 'error') AS error_findings,
    (SELECT count(*) FROM findings WHERE severity = 'warning') AS warning_findings,
    (SELECT count(*) FROM findings WHERE severity = 'info') AS info_findings,
    (SELECT count(*) FROM segments) AS segments,
    (SELECT count(DISTINCT source) FROM segments) AS segment_sources,
    (SELECT count(*) FROM embedding_sets) AS embedding_sets,
    (SELECT count(DISTINCT probe_id) FROM probe_results) AS probes
FROM rec;
