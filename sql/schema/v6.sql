-- schema v6: ChildProject datasets read as they are (`homecat scan --childproject`,
-- `homecat segments import --childproject`, `homecat vad import --childproject`).

-- What metadata/recordings.csv and metadata/children.csv say about each listed, not discarded
-- recording. Replaced whole by every ChildProject scan, in the transaction that updates the
-- recordings' statuses; emptied by a plain folder scan. Small (one row per recording), so
-- rewriting it costs nothing next to the stat of each file.
CREATE TABLE recording_meta (
    recording_id          VARCHAR PRIMARY KEY,      -- recordings.recording_id
    recording_filename    VARCHAR NOT NULL UNIQUE,  -- as recordings.csv writes it: annotations.csv refers to it
    experiment            VARCHAR NOT NULL,
    child_id              VARCHAR NOT NULL,         -- also recordings.participant_id
    date_iso              DATE,                     -- NULL where the metadata says NA
    start_time            VARCHAR,                  -- HH:MM or HH:MM:SS as written; NULL where NA
    recording_device_type VARCHAR,
    session_id            VARCHAR,                  -- NULL where absent
    child_dob             DATE,                     -- from children.csv; NULL where NA
    age_months            DOUBLE                    -- (date_iso - child_dob) in days / (365.25 / 12), as ChildProject computes it
);
CREATE INDEX recording_meta_child ON recording_meta (child_id);

-- Which stretches of each recording an imported annotation set covers (annotations.csv's
-- range_onset..range_offset, in seconds), so a reader can tell "annotated, nothing there" from
-- "not annotated". Replaced with the rows of the same (target, source) on every import.
CREATE TABLE annotated_ranges (
    target       VARCHAR NOT NULL CHECK (target IN ('segments', 'speech')),  -- the table the set was imported into
    source       VARCHAR NOT NULL,        -- that table's source, e.g. 'childproject:vtc'
    recording_id VARCHAR NOT NULL,
    start_sec    DOUBLE NOT NULL,
    end_sec      DOUBLE NOT NULL,
    imported_at  TIMESTAMP NOT NULL
);
CREATE INDEX annotated_ranges_recording ON annotated_ranges (recording_id);
