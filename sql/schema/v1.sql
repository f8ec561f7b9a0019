-- schema v1: the recordings table, written by `homecat scan`.
-- One row per audio file ever seen under the raw audio root; rows are never deleted
-- (a file that disappears becomes status 'missing' and keeps its history).
CREATE TABLE recordings (
    rel_path       VARCHAR PRIMARY KEY,   -- POSIX path relative to the root: the unique key
    path           VARCHAR NOT NULL,      -- absolute path at the last scan
    recording_id   VARCHAR NOT NULL,      -- file stem, made unique on collisions (see scan.py)
    participant_id VARCHAR NOT NULL,      -- from data.participant_regex; 'unknown' when it does not match
    size_bytes     BIGINT NOT NULL,
    mtime_ns       BIGINT NOT NULL,
    format         VARCHAR,               -- header fields; NULL for unreadable files
    subtype        VARCHAR,
    sample_rate    INTEGER,
    channels       INTEGER,
    frames         BIGINT,                -- what the header claims (validate counts what is readable)
    duration_sec   DOUBLE,
    sha1           VARCHAR,               -- only with `scan --hash`
    status         VARCHAR NOT NULL CHECK (status IN ('ok', 'unreadable', 'missing')),
    error          VARCHAR,               -- the reader's message for unreadable files
    first_seen     TIMESTAMP NOT NULL,
    last_seen      TIMESTAMP NOT NULL,    -- last scan that found the file
    scanned_at     TIMESTAMP NOT NULL     -- last time the header was read
);
CREATE UNIQUE INDEX recordings_recording_id ON recordings (recording_id);

-- Small key/value facts about how the catalog was built (e.g. the participant regex of the last scan),
-- so a stage can tell cheaply whether its settings changed since it last ran.
CREATE TABLE catalog_state (
    key   VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);
