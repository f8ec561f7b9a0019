-- Writes of homecat/recording_dates.py: the table recording_dates.

-- name: forget_path_dates
-- Every 'path' row, when the regexes that read them changed.
DELETE FROM recording_dates WHERE kind = 'path';

-- name: set_state
-- Set the catalog fact $key to $value (here: the regexes the 'path' rows were read with).
INSERT OR REPLACE INTO catalog_state VALUES ($key, $value);

-- name: unread_paths
-- The recordings whose path has no 'path' row yet (new since the last scan, or all after forget_path_dates).
SELECT r.recording_id, r.rel_path
FROM recordings AS r
WHERE NOT EXISTS (SELECT 1 FROM recording_dates AS d WHERE d.recording_id = r.recording_id AND d.kind = 'path')
ORDER BY r.rel_path;

-- name: add_path_dates
-- What the rel_paths say (one list parameter per column: $recording_id, $date_iso, $start_time, $family_id; lists,
-- not an Arrow table: pyarrow's first conversion imports pandas, 1-3 s of a first scan, inside its transaction).
INSERT INTO recording_dates (recording_id, kind, date_iso, start_time, device, child_id, family_id, source)
SELECT unnest($recording_id::VARCHAR[]), 'path', unnest($date_iso::DATE[]), unnest($start_time::VARCHAR[]), NULL, NULL,
       unnest($family_id::VARCHAR[]), 'path';

-- name: forget_table_dates
-- The 'table' rows of the recordings a recordings table names (the registered table _table_dates).
DELETE FROM recording_dates WHERE kind = 'table' AND recording_id IN (SELECT recording_id FROM _table_dates);

-- name: add_table_dates
-- The rows of recordings table $source (the registered table _table_dates).
INSERT INTO recording_dates (recording_id, kind, date_iso, start_time, device, child_id, family_id, source)
SELECT recording_id, 'table', date_iso, start_time, device, child_id, family_id, $source FROM _table_dates;

-- name: no_age_reasons
-- How many recordings (not missing) have no age at recording, by why (view recording_ages).
SELECT g.age_missing_because AS why, count(*) AS recordings
FROM recording_ages AS g JOIN recordings AS r USING (recording_id)
WHERE r.status <> 'missing' AND g.age_missing_because IS NOT NULL
GROUP BY why
ORDER BY recordings DESC, why;
