-- Queries and writes of the ChildProject scan and importers (homecat/childproject/scan.py, annotations.py).

-- name: annotation_targets
-- Every recording a ChildProject scan listed, by its recording_filename (how annotations.csv names it),
-- with its status and the duration annotations must fit in (view recording_extent: the header's, or
-- validate's decoded duration of a truncated file).
SELECT m.recording_filename, r.recording_id, r.status, e.duration_sec
FROM recording_meta AS m
JOIN recordings AS r USING (recording_id)
JOIN recording_extent AS e USING (recording_id)
ORDER BY m.recording_filename;

-- name: add_listed_recordings
-- A 'missing' row per recording recordings.csv lists but the folder never held, so reports show it; one
-- row of (rel_path, path, recording_id, participant_id, first_seen, last_seen, scanned_at) each.
INSERT INTO recordings (rel_path, path, recording_id, participant_id, size_bytes, mtime_ns, status,
    first_seen, last_seen, scanned_at)
VALUES (?, ?, ?, ?, 0, 0, 'missing', ?, ?, ?);

-- name: forget_metadata
-- The metadata table, before it is rewritten (or when a plain folder scan replaces the dataset).
DELETE FROM recording_meta;

-- name: store_metadata
-- The metadata rows (the registered table meta_batch, the columns of childproject.scan._META_TYPES).
INSERT INTO recording_meta (
    recording_id, recording_filename, experiment, child_id, date_iso, start_time, recording_device_type,
    session_id, child_dob, age_months, family_id
)
SELECT
    recording_id, recording_filename, experiment, child_id, date_iso, start_time, recording_device_type,
    session_id, child_dob, age_months, family_id
FROM meta_batch;

-- name: relabel_children
-- Every recording's participant becomes its metadata child_id.
UPDATE recordings SET participant_id = m.child_id FROM recording_meta m
WHERE recordings.recording_id = m.recording_id AND recordings.participant_id <> m.child_id;

-- name: store_metadata_key
-- The digest ($key) of what recording_meta was made of: unchanged, a rescan need not rewrite the table.
INSERT OR REPLACE INTO catalog_state VALUES ('childproject_metadata', $key);

-- name: forget_findings
-- The scan findings a ChildProject scan writes (codes $codes: childproject.scan.FINDING_CODES).
DELETE FROM findings WHERE stage = 'scan' AND list_contains($codes, code);

-- name: add_finding
-- One scan finding: (recording_id, code, severity, message, found_at).
INSERT INTO findings VALUES (?, ?, ?, ?, 'scan', ?);

-- name: store_dataset
-- The dataset folder ($root) and the profile ($profile, '' for none) the last scan read.
INSERT OR REPLACE INTO catalog_state VALUES ('childproject_root', $root), ('childproject_profile', $profile);

-- name: forget_dataset
-- What a ChildProject scan stored about its dataset (a plain folder scan replaces it).
DELETE FROM catalog_state WHERE starts_with(key, 'childproject_');

-- name: forget_ranges
-- The annotated ranges of annotation set $source imported into $target (speech or segments).
DELETE FROM annotated_ranges WHERE target = $target AND source = $source;

-- name: add_range
-- One annotated range: (target, source, recording_id, start_sec, end_sec, imported_at).
INSERT INTO annotated_ranges VALUES (?, ?, ?, ?, ?, ?);

-- name: dataset_root
-- The ChildProject dataset folder the catalog was last scanned from (no row: a plain folder scan).
SELECT value FROM catalog_state WHERE key = 'childproject_root';

-- name: export_set_segments
-- Segments of the chosen sources ($sources; empty: all) for `segments export --childproject`, one event
-- once (repeats of another file within $tolerance_sec left out), with the recording's recording_filename in
-- the dataset (NULL: a recording its metadata does not list) and the duration the annotated range covers
-- (view recording_extent; the last segment's end where the audio's is unknown). In recording and time order.
SELECT
    m.recording_filename,
    coalesce(e.duration_sec, max(s.end_sec) OVER (PARTITION BY s.recording_id)) AS duration_sec,
    s.start_sec, s.end_sec, s.label, coalesce(s.tier, '') AS tier
FROM segments AS s
LEFT JOIN recording_meta AS m USING (recording_id)
LEFT JOIN recording_extent AS e USING (recording_id)
WHERE (len($sources) = 0 OR list_contains($sources, s.source))
  AND s.segment_id NOT IN (SELECT segment_id FROM segment_duplicates($tolerance_sec))
ORDER BY m.recording_filename NULLS LAST, s.start_sec, s.end_sec, s.label;
