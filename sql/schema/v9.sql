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

-- What a lab knows about each participant (`homecat participants import FILE`): date of birth or an age,
-- sex and site. A file's rows replace those of the participants it names.
CREATE TABLE participants (
    participant_id VARCHAR PRIMARY KEY,   -- recordings.participant_id
    dob            DATE,                  -- NULL when the file gives an age instead
    age_months     DOUBLE,                -- the age the file gives (at its recordings), when it gives no dob
    sex            VARCHAR,
    site           VARCHAR,
    source         VARCHAR NOT NULL,      -- the file's name
    imported_at    TIMESTAMP NOT NULL
);

-- Each recording's participant and age at recording where known, with sex and site. The age comes from
-- a ChildProject scan's metadata, else the participant's date of birth and the recording's date (its
-- ChildProject date, or its LENA clock), else the age a participants file gives. Bands of months as in
-- `report summary` (zero-padded, so they sort in order).
CREATE VIEW recording_ages AS
WITH dated AS (
    SELECT r.recording_id, r.participant_id,
        coalesce(
            m.age_months,
            date_diff('day', p.dob, coalesce(m.date_iso, c.clock_date)) / (365.25 / 12),
            p.age_months
        ) AS age_months,
        p.sex, p.site
    FROM recordings AS r
    LEFT JOIN recording_meta AS m USING (recording_id)
    LEFT JOIN participants AS p ON p.participant_id = r.participant_id
    LEFT JOIN (
        SELECT recording_id, CAST(min(start_clock) AS DATE) AS clock_date FROM recording_clock GROUP BY recording_id
    ) AS c USING (recording_id)
)
SELECT *,
    CASE
        WHEN age_months < 6 THEN '00-06 months'
        WHEN age_months < 12 THEN '06-12 months'
        WHEN age_months < 18 THEN '12-18 months'
        WHEN age_months < 24 THEN '18-24 months'
        WHEN age_months < 36 THEN '24-36 months'
        WHEN age_months >= 36 THEN '36+ months'
    END AS age_band
FROM dated;
