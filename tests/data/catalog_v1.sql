-- A catalog as homecat 0.1 (schema v1) wrote it; used by tests/test_catalog.py to test upgrades.
CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMP);
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

INSERT INTO schema_version VALUES (1, TIMESTAMP '2026-11-01 10:00:00');
INSERT INTO recordings VALUES
 ('P01/a.wav', '/data/raw/P01/a.wav', 'a', 'P01', 96044, 1761990000000000000, 'WAV', 'PCM_16', 16000, 1, 48000, 3.0, NULL, 'ok', NULL,
  TIMESTAMP '2026-11-01 10:00:00', TIMESTAMP '2026-11-01 10:00:00', TIMESTAMP '2026-11-01 10:00:00'),
 ('P02/b.flac', '/data/raw/P02/b.flac', 'b', 'P02', 5, 1761990000000000000, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'unreadable',
  'Error opening: Format not recognised.', TIMESTAMP '2026-11-01 10:00:00', TIMESTAMP '2026-11-01 10:00:00', TIMESTAMP '2026-11-01 10:00:00');
INSERT INTO catalog_state VALUES ('participant_regex', '^(?P<participant>[^/]+)/');
