-- schema v11: a lab's own corpus as it is: recording dates from the path or a table (ages without ChildProject
-- or LENA), families above the child (siblings and twins on one side of every split), and exact duplicates.

-- What a plain folder corpus says about each recording beyond its audio: its date and start time, device,
-- child and family. kind 'path': read from the rel_path by data.recording_date_regex and the (?P<family>)
-- group of data.participant_regex, rewritten whole by every folder scan (homecat/recording_dates.py);
-- kind 'table': from `homecat recordings import FILE`, replaced per recording, and winning over the path.
CREATE TABLE recording_dates (
    recording_id VARCHAR NOT NULL,        -- recordings.recording_id
    kind         VARCHAR NOT NULL CHECK (kind IN ('path', 'table')),
    date_iso     DATE,                    -- NULL where unknown
    start_time   VARCHAR,                 -- HH:MM or HH:MM:SS; NULL where unknown
    device       VARCHAR,
    child_id     VARCHAR,                 -- the table's child (checked against recordings.participant_id on import)
    family_id    VARCHAR,
    source       VARCHAR NOT NULL,        -- 'path' or the imported file's name
    PRIMARY KEY (recording_id, kind)
);

-- The family of each participant where known (`participants import` with a family column).
ALTER TABLE participants ADD COLUMN family_id VARCHAR;

-- Each recording's date and start time: ChildProject metadata, else an imported table, else the path, else
-- the LENA clock.
CREATE VIEW recording_date AS
SELECT
    r.recording_id,
    coalesce(m.date_iso, t.date_iso, p.date_iso, c.clock_date) AS date_iso,
    coalesce(m.start_time, t.start_time, p.start_time) AS start_time,
    coalesce(m.recording_device_type, t.device, p.device) AS device
FROM recordings AS r
LEFT JOIN recording_meta AS m USING (recording_id)
LEFT JOIN (SELECT * FROM recording_dates WHERE kind = 'table') AS t USING (recording_id)
LEFT JOIN (SELECT * FROM recording_dates WHERE kind = 'path') AS p USING (recording_id)
LEFT JOIN (
    SELECT recording_id, CAST(min(start_clock) AS DATE) AS clock_date FROM recording_clock GROUP BY recording_id
) AS c USING (recording_id);

-- Each recording's participant, its family where known (the participants table, else the recording's table
-- row or path; a participant's family is the first by name its recordings give) and the key everything that
-- must not leak groups by (split, probe folds): 'family:<id>' where the family is known, else the participant;
-- each 'unknown' recording is a group of its own.
CREATE VIEW recording_groups AS
WITH path_family AS (
    SELECT r.participant_id, min(coalesce(t.family_id, p.family_id)) AS family_id
    FROM recordings AS r
    LEFT JOIN (SELECT * FROM recording_dates WHERE kind = 'table') AS t USING (recording_id)
    LEFT JOIN (SELECT * FROM recording_dates WHERE kind = 'path') AS p USING (recording_id)
    WHERE r.participant_id <> 'unknown'
    GROUP BY r.participant_id
)
SELECT
    r.recording_id, r.participant_id,
    CASE WHEN r.participant_id <> 'unknown' THEN coalesce(pt.family_id, f.family_id) END AS family_id,
    CASE
        WHEN r.participant_id = 'unknown' THEN 'unknown:' || r.recording_id
        WHEN coalesce(pt.family_id, f.family_id) IS NOT NULL THEN 'family:' || coalesce(pt.family_id, f.family_id)
        ELSE r.participant_id
    END AS group_key
FROM recordings AS r
LEFT JOIN participants AS pt ON pt.participant_id = r.participant_id
LEFT JOIN path_family AS f ON f.participant_id = r.participant_id;

-- As v9's view, with dates from recording_date (so a folder corpus dated by its paths or a table gets ages),
-- the family, and why a recording has no age (NULL where it has one).
DROP VIEW recording_ages;
CREATE VIEW recording_ages AS
WITH dated AS (
    SELECT r.recording_id, r.participant_id, g.family_id,
        coalesce(
            m.age_months,
            date_diff('day', p.dob, d.date_iso) / (365.25 / 12),
            p.age_months
        ) AS age_months,
        p.sex, p.site,
        CASE
            WHEN r.participant_id = 'unknown' THEN 'participant unknown'
            WHEN p.participant_id IS NULL THEN 'participant not imported (participants import)'
            WHEN p.dob IS NULL THEN 'no date of birth'
            WHEN d.date_iso IS NULL THEN 'no recording date (path or recordings import)'
        END AS missing_because
    FROM recordings AS r
    JOIN recording_date AS d USING (recording_id)
    JOIN recording_groups AS g USING (recording_id)
    LEFT JOIN recording_meta AS m USING (recording_id)
    LEFT JOIN participants AS p ON p.participant_id = r.participant_id
)
SELECT recording_id, participant_id, age_months, sex, site,
    CASE
        WHEN age_months < 6 THEN '00-06 months'
        WHEN age_months < 12 THEN '06-12 months'
        WHEN age_months < 18 THEN '12-18 months'
        WHEN age_months < 24 THEN '18-24 months'
        WHEN age_months < 36 THEN '24-36 months'
        WHEN age_months >= 36 THEN '36+ months'
    END AS age_band,
    family_id,
    CASE WHEN age_months IS NULL THEN coalesce(missing_because, 'no age') END AS age_missing_because
FROM dated;
