-- schema v9: annotations and metadata as labs have them (LENA .its clock times, duplicates across
-- annotation sources, a participants table).

-- The wall-clock time of each part of a recording (a LENA recorder pauses between parts): part `part`
-- covers start_sec..end_sec of the audio and began at start_clock (UTC). Written by importing a LENA
-- .its file (`homecat segments import` / `homecat vad import`), replaced per recording.
CREATE TABLE recording_clock (
    recording_id VARCHAR NOT NULL,
    source       VARCHAR NOT NULL,        -- the .its file's name
    part         INTEGER NOT NULL,        -- the .its <Recording num=...>
    start_sec    DOUBLE NOT NULL,
    end_sec      DOUBLE NOT NULL,
    start_clock  TIMESTAMP NOT NULL       -- UTC
);
CREATE INDEX recording_clock_recording ON recording_clock (recording_id);

-- The same event imported from two files (a CSV and a TextGrid of the same annotations): the later
-- segment (by source, then segment_id) names the one it repeats, within segments.duplicate_tolerance_sec.
-- NULL for every segment that counts. Recomputed for the recordings a source touches on each import.
ALTER TABLE segments ADD COLUMN duplicate_of VARCHAR;
