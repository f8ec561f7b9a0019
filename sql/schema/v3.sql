-- schema v3: participant-grouped splits, written by `homecat split`.

-- The current assignment: one row per recording in a split. A participant's recordings are all in
-- one split; recordings whose participant is 'unknown' are each a group of their own.
-- Rows are kept across runs (stable as data grows); only `homecat split --reshuffle` starts over.
CREATE TABLE splits (
    recording_id   VARCHAR PRIMARY KEY,
    participant_id VARCHAR NOT NULL,      -- recordings.participant_id when assigned
    split          VARCHAR NOT NULL CHECK (split IN ('train', 'dev', 'test')),
    assigned_at    TIMESTAMP NOT NULL,
    seed           INTEGER NOT NULL       -- split.split_seed of the run that placed it
);

-- Recordings that left a split (an error finding, missing, unreadable, no longer validated, relabelled).
-- Also remembers a participant's split when all of its recordings have left, so they come back to it.
CREATE TABLE split_removals (
    recording_id   VARCHAR NOT NULL,
    participant_id VARCHAR NOT NULL,
    split          VARCHAR NOT NULL,
    assigned_at    TIMESTAMP NOT NULL,
    removed_at     TIMESTAMP NOT NULL,
    reason         VARCHAR NOT NULL       -- e.g. 'error finding: truncated', 'missing'
);
CREATE INDEX split_removals_participant ON split_removals (participant_id);
