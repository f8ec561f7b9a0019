-- Queries of the crop sampler (homecat/crops.py).

-- name: crop_index
-- One row per recording of the chosen splits that can give crops: where it is, what validation
-- read from it, its active windows (rms_dbfs at or above its activity threshold) and its speech turns
-- ([start_sec, end_sec] of `speech` rows of $speech_source whose label is in $speech_labels, all labels
-- when that list is empty; overlaps are merged in homecat/crops.py) and whether that source processed it,
-- in rel_path order.
-- $splits: list of split names. Recordings that became unusable since `homecat split` are left out, as are
-- recordings changed since `homecat validate` (their levels and decodable length describe the old file).
SELECT
    s.recording_id, s.participant_id, s.split, r.rel_path, r.path, r.path_bytes, r.sample_rate, r.channels,
    a.frames_read, a.duration_sec, a.window_sec, a.activity_threshold_dbfs,
    coalesce(
        (SELECT list(l.window_index ORDER BY l.window_index) FROM levels AS l
         WHERE l.recording_id = s.recording_id AND l.rms_dbfs >= a.activity_threshold_dbfs),
        []
    ) AS active_windows,
    coalesce(
        (SELECT list([sp.start_sec, sp.end_sec] ORDER BY sp.start_sec, sp.end_sec) FROM current_speech AS sp
         WHERE sp.recording_id = s.recording_id AND sp.source = $speech_source
           AND (len($speech_labels) = 0 OR list_contains($speech_labels, sp.label))),
        []
    ) AS speech,
    -- whether $speech_source looked at this recording (so no speech rows mean no speech, not "unknown"):
    -- `homecat vad` ran on this file version, or an imported annotation set of that source covers some of it
    coalesce(($speech_source = 'silero' AND EXISTS (
         SELECT 1 FROM vad_state AS v
         WHERE v.recording_id = s.recording_id AND v.size_bytes = r.size_bytes AND v.mtime_ns = r.mtime_ns))
     OR EXISTS (
         SELECT 1 FROM annotated_ranges AS ar
         WHERE ar.recording_id = s.recording_id AND ar.target = 'speech' AND ar.source = $speech_source),
    false) AS speech_processed
FROM splits AS s
JOIN recordings AS r USING (recording_id)
JOIN audio_stats AS a USING (recording_id)
WHERE list_contains($splits, s.split)
  AND r.status = 'ok'
  AND a.size_bytes = r.size_bytes AND a.mtime_ns = r.mtime_ns
  AND NOT EXISTS (SELECT 1 FROM findings AS f WHERE f.recording_id = s.recording_id AND f.severity = 'error')
ORDER BY r.rel_path;

-- name: longest_usable
-- The longest recording of $splits that crops can come from (the rule of crop_index), by decodable length:
-- recording_id, frames_read, sample_rate, duration_sec. No row when there is none.
SELECT s.recording_id, a.frames_read, r.sample_rate, a.duration_sec
FROM splits AS s
JOIN recordings AS r USING (recording_id)
JOIN audio_stats AS a USING (recording_id)
WHERE list_contains($splits, s.split)
  AND r.status = 'ok'
  AND a.size_bytes = r.size_bytes AND a.mtime_ns = r.mtime_ns
  AND NOT EXISTS (SELECT 1 FROM findings AS f WHERE f.recording_id = s.recording_id AND f.severity = 'error')
ORDER BY a.duration_sec DESC, r.rel_path
LIMIT 1;
