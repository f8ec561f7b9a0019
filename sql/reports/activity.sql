-- name: activity
-- Per participant and split: age band(s) at recording, hours, energy-active and speech hours, and each crop policy part's share of training crops.
WITH rec AS (
-- Usable recordings only; split '(none)': not in a split. speech_hours: rows of the crop policy's
-- source and labels; turn hours add up overlapping turns. crops_*: share of ALL training crops each
-- policy part will draw from these recordings (crops_speech_fallback: speech-part crops drawn by energy
-- because the source never processed the recording; one it processed and found no speech in gets no
-- speech-part crops, its share goes to the recordings with speech). Parameters: $speech_source, $speech_labels (empty: all),
-- $crop_sec, $w_speech, $w_energy, $w_uniform (summing to 1).
    SELECT
        r.recording_id,
        r.participant_id,
        coalesce(s.split, '(none)') AS split,
        g.age_band,
        a.duration_sec,
        coalesce(a.active_sec, 0) AS active_sec,
        s.split = 'train' AND a.frames_read >= round($crop_sec * r.sample_rate) AS crops_from_it,
        coalesce((
            SELECT sum(sp.end_sec - sp.start_sec) FROM current_speech AS sp
            WHERE sp.recording_id = r.recording_id AND sp.source = $speech_source
              AND (len($speech_labels) = 0 OR list_contains($speech_labels, sp.label))
        ), 0) AS policy_speech_sec,
        -- as in queries/crops.sql: the source looked at this file version (no rows then mean no speech)
        coalesce(($speech_source = 'silero' AND EXISTS (
             SELECT 1 FROM vad_state AS v
             WHERE v.recording_id = r.recording_id AND v.size_bytes = r.size_bytes AND v.mtime_ns = r.mtime_ns))
         OR EXISTS (
             SELECT 1 FROM annotated_ranges AS ar
             WHERE ar.recording_id = r.recording_id AND ar.target = 'speech' AND ar.source = $speech_source),
        false) AS speech_processed
    FROM recordings AS r
    JOIN audio_stats AS a USING (recording_id)
    LEFT JOIN splits AS s USING (recording_id)
    LEFT JOIN recording_ages AS g USING (recording_id)
    WHERE r.status = 'ok'
      AND a.size_bytes = r.size_bytes AND a.mtime_ns = r.mtime_ns
      AND NOT EXISTS (SELECT 1 FROM findings AS f WHERE f.recording_id = r.recording_id AND f.severity = 'error')
),
by_label AS (
    SELECT rec.participant_id, rec.split, sp.source, sp.label, sum(sp.end_sec - sp.start_sec) AS sec
    FROM current_speech AS sp JOIN rec USING (recording_id)
    GROUP BY ALL
),
labels AS (
    SELECT participant_id, split,
           string_agg(source || '/' || label || ' ' || round(sec / 3600.0, 4) || ' h', ', ' ORDER BY source, label)
               AS speech_hours_by_source_label
    FROM by_label GROUP BY ALL
),
train AS (
    SELECT nullif(sum(duration_sec) FILTER (WHERE crops_from_it), 0) AS sec,
           -- the speech part draws only from recordings with speech or never processed
           nullif(sum(duration_sec) FILTER (WHERE crops_from_it AND (policy_speech_sec > 0 OR NOT speech_processed)), 0)
               AS speech_pool_sec
    FROM rec
)
SELECT
    participant_id,
    split,
    string_agg(DISTINCT age_band, ', ' ORDER BY age_band) AS age_bands,
    count(*) AS recordings,
    round(sum(duration_sec) / 3600.0, 4) AS hours,
    round(sum(active_sec) / 3600.0, 4) AS active_hours,
    round(sum(policy_speech_sec) / 3600.0, 4) AS speech_hours,
    any_value(l.speech_hours_by_source_label) AS speech_hours_by_source_label,
    round(coalesce($w_speech * sum(duration_sec) FILTER (WHERE crops_from_it AND policy_speech_sec > 0)
        / any_value(train.speech_pool_sec), 0), 4) AS crops_speech,
    round(coalesce($w_speech * sum(duration_sec)
        FILTER (WHERE crops_from_it AND policy_speech_sec = 0 AND NOT speech_processed)
        / any_value(train.speech_pool_sec), 0), 4) AS crops_speech_fallback,
    round(coalesce($w_energy * sum(duration_sec) FILTER (WHERE crops_from_it) / any_value(train.sec), 0), 4)
        AS crops_energy,
    round(coalesce($w_uniform * sum(duration_sec) FILTER (WHERE crops_from_it) / any_value(train.sec), 0), 4)
        AS crops_uniform
FROM rec
LEFT JOIN labels AS l USING (participant_id, split)
CROSS JOIN train
GROUP BY participant_id, split
ORDER BY participant_id, split;
