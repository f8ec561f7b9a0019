-- schema v16: every result names the weights it describes (issue 23). An embedding set and each probe result
-- carry the SHA-256 of the weight files (homecat/weights.py: sha256sum of model.safetensors) and the training
-- run and step they come from, so `homecat push` shows only numbers of the weights it pushes. The probe copies
-- them from its sets when it runs: a set overwritten later with other weights cannot relabel an older probe.
-- NULL hash: eGeMAPS (no weights), or a set embedded before v16 (its weights unknown: embed it again).

ALTER TABLE embedding_sets ADD COLUMN weights_sha256 VARCHAR;
ALTER TABLE embedding_sets ADD COLUMN run_name VARCHAR;  -- the run folder's name for final/, checkpoints, initial/
ALTER TABLE embedding_sets ADD COLUMN step BIGINT;       -- the optimizer step of those weights (0: the start)
ALTER TABLE probe_results ADD COLUMN weights_sha256 VARCHAR;
ALTER TABLE probe_results ADD COLUMN run_name VARCHAR;
ALTER TABLE probe_results ADD COLUMN step BIGINT;
