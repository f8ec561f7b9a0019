-- Writes of `homecat participants import` (homecat/participants.py).

-- name: forget_participants
-- The rows of the participants a file names (the registered table _new_participants), before they are replaced.
DELETE FROM participants WHERE participant_id IN (SELECT participant_id FROM _new_participants);

-- name: add_participants
-- The participants of file $source (the registered table _new_participants), imported at $now.
INSERT INTO participants (participant_id, dob, age_months, sex, site, source, imported_at, family_id)
SELECT participant_id, dob, age_months, sex, site, $source, $now, family_id FROM _new_participants;

-- name: dob_after_recording
-- Each (participant, date of birth, recording rel_path, recording date) of the registered table
-- _new_participants whose recording is dated before the date of birth: an age there would be negative.
SELECT n.participant_id, strftime(n.dob, '%Y-%m-%d'), r.rel_path, strftime(d.date_iso, '%Y-%m-%d')
FROM _new_participants AS n
JOIN recordings AS r ON r.participant_id = n.participant_id
JOIN recording_date AS d USING (recording_id)
WHERE n.dob > d.date_iso
ORDER BY n.participant_id, r.rel_path;
