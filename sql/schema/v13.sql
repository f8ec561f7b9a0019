-- schema v13: a date of birth after the recording date gives no age (never a negative one, never band 00-06).

-- As v11's view, except that an age from the participant's date of birth and a recording date before it is
-- NULL, with the reason naming both dates (`participants import` refuses such a file; a recording date that
-- arrives later, from a LENA clock, a path or a recordings table, lands here).
DROP VIEW recording_ages;
CREATE VIEW recording_ages AS
WITH dated AS (
    SELECT r.recording_id, r.participant_id, g.family_id,
        coalesce(
            m.age_months,
            CASE WHEN p.dob <= d.date_iso THEN date_diff('day', p.dob, d.date_iso) / (365.25 / 12) END,
            CASE WHEN p.dob IS NULL OR d.date_iso IS NULL THEN p.age_months END
        ) AS age_months,
        p.sex, p.site,
        CASE
            WHEN r.participant_id = 'unknown' THEN 'participant unknown'
            WHEN p.participant_id IS NULL THEN 'participant not imported (participants import)'
            WHEN p.dob > d.date_iso AND m.age_months IS NULL THEN
                'date of birth ' || strftime(p.dob, '%Y-%m-%d') || ' is after the recording date '
                || strftime(d.date_iso, '%Y-%m-%d')
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
