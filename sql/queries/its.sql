-- Writes of the LENA .its importers (homecat/its.py, for `homecat segments import` and `homecat vad import`).

-- name: forget_clock
-- Recording $recording_id's clock times, before those of a newly imported .its file are stored.
DELETE FROM recording_clock WHERE recording_id = $recording_id;

-- name: add_clock
-- One part's clock time: (recording_id, source, part, start_sec, end_sec, start_clock).
INSERT INTO recording_clock VALUES (?, ?, ?, ?, ?, ?);
