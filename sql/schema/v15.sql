-- schema v15: a LENA recorder part's end clock and the family's local time (issue 24).

-- Each part's wall-clock end (UTC, the .its endClockTime; NULL where not given) and the offset of the
-- family's local time from UTC in minutes (from the .its <TransferTime LocalTime UTCTime>; NULL where not
-- given): local time = start_clock + utc_offset_min minutes.
ALTER TABLE recording_clock ADD COLUMN end_clock TIMESTAMP;
ALTER TABLE recording_clock ADD COLUMN utc_offset_min INTEGER;

-- As v11's view, with a LENA clock's date taken in the family's local time where the file gives it (a
-- recording started at 01:30 UTC in UTC-05:00 was made the evening before), as ChildProject's metadata
-- holds local dates; its local start time where no other source gives one.
CREATE OR REPLACE VIEW recording_date AS
SELECT
    r.recording_id,
    coalesce(m.date_iso, t.date_iso, p.date_iso, c.clock_date) AS date_iso,
    coalesce(m.start_time, t.start_time, p.start_time, c.clock_time) AS start_time,
    coalesce(m.recording_device_type, t.device, p.device) AS device
FROM recordings AS r
LEFT JOIN recording_meta AS m USING (recording_id)
LEFT JOIN (SELECT * FROM recording_dates WHERE kind = 'table') AS t USING (recording_id)
LEFT JOIN (SELECT * FROM recording_dates WHERE kind = 'path') AS p USING (recording_id)
LEFT JOIN (
    SELECT recording_id,
        CAST(min(start_clock + to_minutes(coalesce(utc_offset_min, 0))) AS DATE) AS clock_date,
        strftime(min(start_clock + to_minutes(utc_offset_min)), '%H:%M:%S') AS clock_time  -- NULL: no local time
    FROM recording_clock
    GROUP BY recording_id
) AS c USING (recording_id);
