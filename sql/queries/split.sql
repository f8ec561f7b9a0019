-- Queries and writes of `homecat split` (homecat/split.py).

-- name: split_eligibility
-- Every recording with its group key and, when it cannot be in a split, why not (NULL: a candidate).
-- A candidate is readable (status 'ok'), validated for its current (size, mtime) and has no error finding.
-- The group is the family where one is known, else the participant; 'unknown' participants form one group
-- per recording (view recording_groups).
SELECT
    r.recording_id,
    r.participant_id,
    g.group_key,
    coalesce(a.duration_sec, r.duration_sec, 0) AS duration_sec,
    CASE
        WHEN r.status <> 'ok' THEN r.status
        WHEN a.recording_id IS NULL THEN 'not validated'
        WHEN a.size_bytes <> r.size_bytes OR a.mtime_ns <> r.mtime_ns THEN 'changed since validation'
        WHEN e.codes IS NOT NULL THEN 'error finding: ' || e.codes
    END AS excluded_because
FROM recordings AS r
JOIN recording_groups AS g USING (recording_id)
LEFT JOIN audio_stats AS a USING (recording_id)
LEFT JOIN (
    SELECT recording_id, string_agg(DISTINCT code, ', ' ORDER BY code) AS codes
    FROM findings WHERE severity = 'error' GROUP BY recording_id
) AS e USING (recording_id)
ORDER BY r.rel_path;

-- name: split_strata
-- Each recording's age band at recording, sex and site (view recording_ages; NULL where unknown), for
-- `homecat split` with split.stratify_by.
SELECT recording_id, age_band, sex, site FROM recording_ages ORDER BY recording_id;

-- name: split_assignments
-- The current assignment, one row per recording.
SELECT recording_id, participant_id, split, assigned_at, seed FROM splits ORDER BY recording_id;

-- name: split_memory
-- The last split of every group that ever left one (a family, a participant, or an 'unknown' recording), so
-- a group whose recordings all left comes back to the same split.
SELECT
    coalesce(
        g.group_key,
        CASE WHEN s.participant_id = 'unknown' THEN 'unknown:' || s.recording_id ELSE s.participant_id END
    ) AS group_key,
    arg_max(s.split, s.removed_at) AS split
FROM split_removals AS s
LEFT JOIN (
    SELECT DISTINCT participant_id, group_key FROM recording_groups WHERE participant_id <> 'unknown'
) AS g ON g.participant_id = s.participant_id
GROUP BY 1
ORDER BY 1;

-- name: train_split
-- The train split's recordings: where the audio is and what validation learned (export train_split.parquet).
SELECT
    s.recording_id, s.participant_id, s.split, r.rel_path, r.path, r.format, r.subtype, r.sample_rate, r.channels,
    a.frames_read, a.duration_sec, a.activity_threshold_dbfs, a.silent_fraction, a.active_sec, s.assigned_at, s.seed
FROM splits AS s
JOIN recordings AS r USING (recording_id)
LEFT JOIN audio_stats AS a USING (recording_id)
WHERE s.split = 'train'
ORDER BY r.rel_path;

-- name: dev_split
-- The dev split's recordings: where the audio is and what validation learned (export dev_split.parquet).
SELECT
    s.recording_id, s.participant_id, s.split, r.rel_path, r.path, r.format, r.subtype, r.sample_rate, r.channels,
    a.frames_read, a.duration_sec, a.activity_threshold_dbfs, a.silent_fraction, a.active_sec, s.assigned_at, s.seed
FROM splits AS s
JOIN recordings AS r USING (recording_id)
LEFT JOIN audio_stats AS a USING (recording_id)
WHERE s.split = 'dev'
ORDER BY r.rel_path;

-- name: forget_splits
-- Every assignment (`homecat split --reshuffle` starts over).
DELETE FROM splits;

-- name: forget_removals
-- Every remembered removal (`homecat split --reshuffle` starts over).
DELETE FROM split_removals;

-- name: unassign
-- One recording leaves its split: (recording_id).
DELETE FROM splits WHERE recording_id = ?;

-- name: add_removal
-- Why a recording left its split: (recording_id, participant_id, split, assigned_at, removed_at, reason).
INSERT INTO split_removals VALUES (?, ?, ?, ?, ?, ?);

-- name: assign
-- One recording's split: (recording_id, participant_id, split, assigned_at, seed).
INSERT INTO splits VALUES (?, ?, ?, ?, ?);
