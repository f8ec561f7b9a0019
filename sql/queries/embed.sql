-- Queries and writes of `homecat embed` and `homecat probe` (homecat/embed.py, homecat/probe.py).

-- name: embed_segments
-- Every imported segment with what reading it needs: the recording's path, rate, channels and readable frames
-- (view recording_extent: validation's decoded count for the current file version when it has one, else the
-- header's: stale stats of a replaced file must not shorten or lengthen a read). `readable` is false for recordings that are missing or
-- unreadable. $labels: the labels to keep (an empty list keeps all). A segment that repeats one of another
-- file (segment_duplicates, within $tolerance_sec) is not embedded: the probe leaves it out anyway.
SELECT
    s.segment_id,
    s.recording_id,
    s.start_sec,
    s.end_sec,
    s.label,
    r.rel_path,
    r.path,
    r.path_bytes,
    r.sample_rate,
    r.channels,
    r.size_bytes,
    r.mtime_ns,
    e.frames,
    r.status = 'ok' AND r.sample_rate IS NOT NULL AS readable
FROM segments AS s
JOIN recordings AS r USING (recording_id)
JOIN recording_extent AS e USING (recording_id)
WHERE (len($labels) = 0 OR list_contains($labels, s.label))
  AND s.segment_id NOT IN (SELECT segment_id FROM segment_duplicates($tolerance_sec))
ORDER BY s.segment_id;

-- name: forget_embed_findings
-- The findings of one embedding set (messages end with $suffix, they start "Segment <segment_id> of ...") for
-- the segments a run retried ($segment_ids) and for segments no longer in the catalog.
DELETE FROM findings
WHERE stage = $stage
    AND ends_with(message, $suffix)
    AND (
        list_contains($segment_ids, split_part(message, ' ', 2))
        OR split_part(message, ' ', 2) NOT IN (SELECT segment_id FROM segments)
    );

-- name: embedding_set
-- One embedding set's catalog row (none when the set is new).
SELECT set_name, kind, model, model_sha, n_layers, dim, settings, segment_count, path, created_at, updated_at,
    weights_sha256, run_name, step
FROM embedding_sets WHERE set_name = $set_name;

-- name: upsert_embedding_set
-- Insert or refresh an embedding set's row; created_at stays that of the first run.
INSERT INTO embedding_sets
    (set_name, kind, model, model_sha, n_layers, dim, settings, segment_count, path, created_at, updated_at,
     weights_sha256, run_name, step)
VALUES ($set_name, $kind, $model, $model_sha, $n_layers, $dim, $settings, $segment_count, $path, now(), now(),
    $weights_sha256, $run_name, $step)
ON CONFLICT (set_name) DO UPDATE SET
    kind = excluded.kind, model = excluded.model, model_sha = excluded.model_sha, n_layers = excluded.n_layers,
    dim = excluded.dim, settings = excluded.settings, segment_count = excluded.segment_count, path = excluded.path,
    updated_at = excluded.updated_at, weights_sha256 = excluded.weights_sha256, run_name = excluded.run_name,
    step = excluded.step;

-- name: embedding_sets
-- Every embedding set, by name.
SELECT set_name, kind, model, model_sha, n_layers, dim, settings, segment_count, path, created_at, updated_at,
    weights_sha256, run_name, step
FROM embedding_sets ORDER BY set_name;

-- name: probe_segments
-- Every imported segment with its label and its group for the folds, as `homecat split` groups (view
-- recording_groups): the family where one is known (siblings in one fold), else the participant, else the
-- recording for participant 'unknown'. A segment that repeats one of
-- another file (segment_duplicates, within $tolerance_sec) is left out: one event is counted once.
-- age_band: the child's age at the recording (view recording_ages), for `probe --by age-band`.
SELECT
    s.segment_id,
    s.label,
    s.recording_id,
    r.participant_id,
    k.group_key,
    coalesce(g.age_band, '(age unknown)') AS age_band
FROM segments AS s
JOIN recordings AS r USING (recording_id)
JOIN recording_groups AS k USING (recording_id)
LEFT JOIN recording_ages AS g USING (recording_id)
WHERE s.segment_id NOT IN (SELECT segment_id FROM segment_duplicates($tolerance_sec))
ORDER BY s.segment_id;

-- name: probe_of_weights
-- Every row (set, layer) of the newest probe holding a result of the weights $sha256 (the model card's evidence),
-- with each set's kind. Probes that also hold the starting weights $start_sha256 and an eGeMAPS set come first:
-- the card compares them on the same folds. No rows when no probe holds those weights.
WITH probes AS (
    SELECT
        p.probe_id,
        max(p.created_at) AS created_at,
        bool_or(p.weights_sha256 = $sha256) AS mine,
        coalesce(bool_or(p.weights_sha256 = $start_sha256), false) AS has_start,
        coalesce(bool_or(e.kind = 'egemaps'), false) AS has_egemaps
    FROM probe_results AS p
    LEFT JOIN embedding_sets AS e USING (set_name)
    GROUP BY p.probe_id
)
SELECT
    p.probe_id, p.set_name, p.layer, p.uar, p.uar_sd, p.macro_f1, p.chance, p.n_segments, p.n_participants,
    p.n_folds, p.labels, p.weights_sha256, p.run_name, p.step, e.kind
FROM probe_results AS p
LEFT JOIN embedding_sets AS e USING (set_name)
WHERE p.probe_id = (
    SELECT probe_id FROM probes WHERE mine ORDER BY has_start DESC, has_egemaps DESC, created_at DESC, probe_id LIMIT 1
)
ORDER BY p.set_name, p.layer;

-- name: chosen_fold_scores
-- The chosen-layer score of every outer fold of sets $a and $b in the newest probe that holds both (fold order):
-- the pairs of a paired comparison (homecat/compare.py).
WITH newest AS (
    SELECT probe_id FROM probe_results WHERE set_name = $a
    INTERSECT
    SELECT probe_id FROM probe_results WHERE set_name = $b
)
SELECT s.probe_id, s.set_name, s.fold, s.layer, s.uar, s.macro_f1
FROM probe_fold_scores AS s
WHERE s.chosen AND list_contains([$a, $b], s.set_name) AND s.probe_id = (
    SELECT r.probe_id FROM probe_results AS r JOIN newest USING (probe_id)
    ORDER BY r.created_at DESC, r.probe_id LIMIT 1
)
ORDER BY s.set_name, s.fold;

-- name: chosen_fold_scores_of_probe
-- The score of each set on each outer fold of probe $probe_id at the layer chosen for that fold (on its training
-- families alone), in fold order: the pairs of the card's paired comparisons (homecat/compare.py).
SELECT set_name, fold, layer, uar, macro_f1
FROM probe_fold_scores
WHERE probe_id = $probe_id AND chosen
ORDER BY set_name, fold;

-- name: add_embed_finding
-- One warning of a segment the run could not embed: (recording_id, code, message, stage); found now.
INSERT INTO findings VALUES (?, ?, 'warning', ?, ?, now());

-- name: forget_probe_folds
-- The folds of probe $probe_id (a rerun with the same id replaces them).
DELETE FROM probe_folds WHERE probe_id = $probe_id;

-- name: forget_probe_results
-- The results of probe $probe_id.
DELETE FROM probe_results WHERE probe_id = $probe_id;

-- name: add_probe_folds
-- Probe $probe_id's fold of each segment (the registered table new_probe_folds: segment_id, fold).
INSERT INTO probe_folds SELECT $probe_id, segment_id, fold FROM new_probe_folds;

-- name: forget_probe_fold_scores
-- The per-fold scores of probe $probe_id.
DELETE FROM probe_fold_scores WHERE probe_id = $probe_id;

-- name: forget_probe_confusion
-- The confusion counts of probe $probe_id.
DELETE FROM probe_confusion WHERE probe_id = $probe_id;

-- name: add_probe_fold_scores
-- Probe $probe_id's per-fold scores (the registered table new_probe_fold_scores, the table's columns in order).
INSERT INTO probe_fold_scores
SELECT $probe_id, set_name, layer, fold, uar, macro_f1, n_test_segments, inner_uar, chosen FROM new_probe_fold_scores;

-- name: add_probe_confusion
-- Probe $probe_id's confusion counts (the registered table new_probe_confusion).
INSERT INTO probe_confusion
SELECT $probe_id, set_name, true_label, predicted_label, n_segments FROM new_probe_confusion;

-- name: add_probe_result
-- One (set, layer) result of probe $probe_id, created now, with the weights, run and step of the set as the
-- catalog holds them now (the vectors probed: embed refuses other weights in a set without --overwrite).
INSERT INTO probe_results
    (probe_id, set_name, layer, uar, uar_sd, macro_f1, chance, n_segments, n_participants, n_folds, labels, seed,
     created_at, weights_sha256, run_name, step)
SELECT
    $probe_id, $set_name, $layer, $uar, $uar_sd, $macro_f1, $chance, $n_segments, $n_participants, $n_folds, $labels,
    $seed, now(), e.weights_sha256, e.run_name, e.step
FROM (SELECT 1) AS one
LEFT JOIN embedding_sets AS e ON e.set_name = $set_name;
