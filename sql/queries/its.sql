-- Writes of the LENA .its importers (homecat/its.py, for `homecat segments import` and `homecat vad import`).

-- name: forget_clock
-- Recording $recording_id's clock times, before those of a newly imported .its file are stored.
DELETE FROM recording_clock WHERE recording_id = $recording_id;

-- name: add_clock
-- One part's clock time: (recording_id, source, part, start_sec, end_sec, start_clock, end_clock, utc_offset_min).
INSERT INTO recording_clock (recording_id, source, part, start_sec, end_sec, start_clock, end_clock, utc_offset_min)
VALUES (?, ?, ?, ?, ?, ?, ?, ?);

-- name: clock_recording
-- Recording $recording_id's rel_path and the duration its parts must fit in (view recording_extent, as for
-- segments; NULL when unreadable).
SELECT r.rel_path, e.duration_sec FROM recordings AS r JOIN recording_extent AS e USING (recording_id)
WHERE r.recording_id = $recording_id;
