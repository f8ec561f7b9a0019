-- schema v5: vocal activity (`homecat vad`, `homecat vad import`).

-- Speech (or voice-type) turns: from Silero VAD (source 'silero', label 'speech') or imported RTTM
-- (source = the file's name or --source, label = the RTTM speaker/class field, e.g. KCHI, FEM, MAL).
CREATE TABLE speech (
    recording_id VARCHAR NOT NULL,
    start_sec    DOUBLE NOT NULL,
    end_sec      DOUBLE NOT NULL,
    source       VARCHAR NOT NULL,
    label        VARCHAR NOT NULL
);
CREATE INDEX speech_recording ON speech (recording_id);

-- Which file version and VAD settings each recording's 'silero' rows describe: a recording whose
-- size, mtime or settings hash differs is run again; the others are not opened.
CREATE TABLE vad_state (
    recording_id  VARCHAR PRIMARY KEY,
    size_bytes    BIGINT NOT NULL,
    mtime_ns      BIGINT NOT NULL,
    settings_hash VARCHAR NOT NULL,
    speech_sec    DOUBLE NOT NULL,
    processed_at  TIMESTAMP NOT NULL
);

-- The speech rows that describe the files as they are now: 'silero' rows only while vad_state matches the
-- recording's current size and mtime (a replaced file keeps its old rows until `homecat vad` runs again,
-- and they must not steer crops or reports meanwhile). Imported rows carry no file version: all kept.
CREATE VIEW current_speech AS
SELECT sp.*
FROM speech AS sp
WHERE sp.source <> 'silero'
   OR EXISTS (
       SELECT 1 FROM vad_state AS v JOIN recordings AS r USING (recording_id)
       WHERE v.recording_id = sp.recording_id AND v.size_bytes = r.size_bytes AND v.mtime_ns = r.mtime_ns
   );
