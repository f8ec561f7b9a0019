-- Writes of `homecat participants import` (homecat/participants.py).

-- name: forget_participants
-- The rows of the participants a file names (the registered table _new_participants), before they are replaced.
DELETE FROM participants WHERE participant_id IN (SELECT participant_id FROM _new_participants);

-- name: add_participants
-- The participants of file $source (the registered table _new_participants), imported at $now.
INSERT INTO participants (participant_id, dob, age_months, sex, site, source, imported_at, family_id)
SELECT participant_id, dob, age_months, sex, site, $source, $now, family_id FROM _new_participants;
