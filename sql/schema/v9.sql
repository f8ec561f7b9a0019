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

-- The same event imported from two files (a CSV and a TextGrid of the same annotations): for each segment
-- that repeats one of another source file (same recording and label, start and end both within
-- tolerance_sec), the segment it repeats: the first by (source, segment_id). Computed when read, with the
-- tolerance of the reader's settings (segments.duplicate_tolerance_sec), so no import path can leave a
-- stale flag. Starts are bucketed by the tolerance and each segment meets only its own and the two
-- neighbouring buckets, so the join grows with the segments, not with their pairs.
CREATE MACRO segment_duplicates(tolerance_sec) AS TABLE
WITH keyed AS (
    SELECT segment_id, recording_id, label, source, start_sec, end_sec,
           CAST(floor(start_sec / greatest(tolerance_sec, 0.001)) AS BIGINT) AS bucket
    FROM segments
),
near AS (
    SELECT *, unnest([bucket - 1, bucket, bucket + 1]) AS near_bucket FROM keyed
)
SELECT a.segment_id, arg_min(b.segment_id, b.source || chr(31) || b.segment_id) AS duplicate_of
FROM keyed AS a
JOIN near AS b ON a.recording_id = b.recording_id AND a.label = b.label AND a.bucket = b.near_bucket
WHERE b.source < a.source
  AND abs(a.start_sec - b.start_sec) <= tolerance_sec + 1e-9
  AND abs(a.end_sec - b.end_sec) <= tolerance_sec + 1e-9
GROUP BY a.segment_id;
