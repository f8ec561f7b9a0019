-- schema v2: what `homecat validate` learns from streaming each file once.

-- One row per problem found. Rows of a recording are replaced whenever it is validated again.
CREATE TABLE findings (
    recording_id VARCHAR NOT NULL,
    code         VARCHAR NOT NULL,        -- unreadable, truncated, too_short, silent, clipping, ...
    severity     VARCHAR NOT NULL CHECK (severity IN ('error', 'warning', 'info')),  -- error = excluded from training
    message      VARCHAR NOT NULL,        -- names the recording and the numbers
    stage        VARCHAR NOT NULL,        -- which command found it (validate, ...)
    found_at     TIMESTAMP NOT NULL
);
CREATE INDEX findings_recording ON findings (recording_id);

-- Whole-file statistics, and the file version (size_bytes, mtime_ns) they describe:
-- a recording whose size or mtime differs from these needs validating again.
CREATE TABLE audio_stats (
    recording_id            VARCHAR PRIMARY KEY,
    size_bytes              BIGINT NOT NULL,
    mtime_ns                BIGINT NOT NULL,
    frames_read             BIGINT NOT NULL,   -- frames actually decodable (header may claim more)
    duration_sec            DOUBLE NOT NULL,   -- frames_read / sample_rate
    rms_dbfs                DOUBLE,
    peak_dbfs               DOUBLE,
    dc_offset               DOUBLE,
    clip_fraction           DOUBLE,            -- samples at or within one quantisation step of full scale
    window_sec              DOUBLE NOT NULL,   -- window length of this recording's rows in `levels`
    noise_floor_dbfs        DOUBLE,            -- estimated from the window levels (a low percentile)
    activity_threshold_dbfs DOUBLE,            -- max(noise floor + margin, absolute floor)
    threshold_source        VARCHAR,           -- 'relative' or 'absolute': which of the two decided
    silent_fraction         DOUBLE,            -- share of windows below the activity threshold
    active_sec              DOUBLE,
    content_digest          VARCHAR,           -- size + first/last block digest, for duplicates without sha1
    validated_at            TIMESTAMP NOT NULL
);

-- The activity profile: one row per window of window_sec seconds (last window may be shorter).
-- Used by reports (re-threshold at query time) and the crop sampler (draw starts from active windows).
-- Unique on (recording_id, window_index) by construction: validate replaces a recording's rows in one
-- transaction, written in window order. No PRIMARY KEY: its index would take ~2.5x the table's own
-- compressed size (~18 KB per hour of audio at 1 s windows); zone maps keep per-recording reads fast.
CREATE TABLE levels (
    recording_id VARCHAR NOT NULL,
    window_index INTEGER NOT NULL,     -- window start = window_index * window_sec
    rms_dbfs     REAL NOT NULL,        -- floored at -120 dBFS for digital silence; stored to 0.01 dB
    peak_dbfs    REAL NOT NULL
);
