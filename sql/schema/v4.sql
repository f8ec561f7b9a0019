-- schema v4: annotated segments, embedding sets and layer-wise probes (`homecat segments import`,
-- `homecat embed`, `homecat probe`).

-- One row per annotated interval. A source file's rows are replaced whenever it is imported again.
-- segment_id is unique by construction (it hashes the source, and a source's rows are replaced in one
-- transaction, deduplicated first). No PRIMARY KEY: re-importing a source deletes and re-inserts the
-- same keys, which the key index makes ~25x slower (3 s instead of 0.1 s per 200,000 rows).
CREATE TABLE segments (
    segment_id   VARCHAR NOT NULL,        -- stable: a hash of (source, tier, recording_id, start/end in ms), not of the label
    recording_id VARCHAR NOT NULL,
    start_sec    DOUBLE NOT NULL,
    end_sec      DOUBLE NOT NULL,
    label        VARCHAR NOT NULL,
    tier         VARCHAR NOT NULL,        -- EAF/TextGrid tier, CSV column `tier`, or '' when none
    source       VARCHAR NOT NULL,        -- the imported file's name (never its path: paths can name families)
    imported_at  TIMESTAMP NOT NULL
);
CREATE INDEX segments_recording ON segments (recording_id);
CREATE INDEX segments_source ON segments (source);

-- One row per embedding set; the vectors live in Parquet under artifacts/embeddings/<set_name>/.
CREATE TABLE embedding_sets (
    set_name      VARCHAR PRIMARY KEY,
    kind          VARCHAR NOT NULL,       -- 'wav2vec2' or 'egemaps'
    model         VARCHAR NOT NULL,       -- model path or Hub id as given; 'opensmile eGeMAPSv02' for the baseline
    model_sha     VARCHAR NOT NULL,       -- hash of the model weights (or of the feature-set name and version)
    n_layers      INTEGER NOT NULL,       -- hidden states stored: layer 0 = projected CNN features
    dim           INTEGER NOT NULL,
    settings      VARCHAR NOT NULL,       -- JSON of the settings that shape the vectors (max_segment_sec, rate, channels, pooling)
    segment_count INTEGER NOT NULL,       -- vectors stored (a segment removed by a re-import keeps its vector; probe skips it)
    path          VARCHAR NOT NULL,       -- folder of the Parquet parts, relative to the artifacts folder
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);

-- The fold of every segment in one probe run (participant-grouped: a participant is in one fold).
CREATE TABLE probe_folds (
    probe_id   VARCHAR NOT NULL,
    segment_id VARCHAR NOT NULL,
    fold       INTEGER NOT NULL
);
CREATE INDEX probe_folds_probe ON probe_folds (probe_id);

-- One row per (probe run, embedding set, layer).
CREATE TABLE probe_results (
    probe_id       VARCHAR NOT NULL,
    set_name       VARCHAR NOT NULL,
    layer          INTEGER NOT NULL,
    uar            DOUBLE NOT NULL,       -- balanced accuracy, mean over folds
    uar_sd         DOUBLE NOT NULL,
    macro_f1       DOUBLE NOT NULL,
    chance         DOUBLE NOT NULL,       -- 1 / number of classes (UAR of a constant or random guess)
    n_segments     INTEGER NOT NULL,
    n_participants INTEGER NOT NULL,
    n_folds        INTEGER NOT NULL,
    labels         VARCHAR NOT NULL,      -- comma-separated, sorted
    seed           INTEGER NOT NULL,
    created_at     TIMESTAMP NOT NULL
);
