-- Writes of `homecat scan` (homecat/scan.py).

-- name: upsert_recordings
-- Store a batch of header rows (one list parameter per column, as recordings._COLUMNS names them; lists, not
-- an Arrow table: pyarrow's first conversion imports pandas, 1-3 s of a first scan). A changed file keeps its
-- recording_id and first_seen; everything read from it is replaced.
INSERT INTO recordings (
    rel_path, path, path_bytes, recording_id, participant_id, size_bytes, mtime_ns, format, subtype, sample_rate,
    channels, frames, duration_sec, sha1, status, error, first_seen, last_seen, scanned_at
)
SELECT
    unnest($rel_path::VARCHAR[]), unnest($path::VARCHAR[]), unnest($path_bytes::BLOB[]),
    unnest($recording_id::VARCHAR[]), unnest($participant_id::VARCHAR[]), unnest($size_bytes::BIGINT[]),
    unnest($mtime_ns::BIGINT[]), unnest($format::VARCHAR[]), unnest($subtype::VARCHAR[]),
    unnest($sample_rate::INTEGER[]), unnest($channels::INTEGER[]), unnest($frames::BIGINT[]),
    unnest($duration_sec::DOUBLE[]), unnest($sha1::VARCHAR[]), unnest($status::VARCHAR[]), unnest($error::VARCHAR[]),
    unnest($first_seen::TIMESTAMP[]), unnest($last_seen::TIMESTAMP[]), unnest($scanned_at::TIMESTAMP[])
ON CONFLICT (rel_path) DO UPDATE SET
    path = excluded.path, path_bytes = excluded.path_bytes, participant_id = excluded.participant_id,
    size_bytes = excluded.size_bytes, mtime_ns = excluded.mtime_ns, format = excluded.format,
    subtype = excluded.subtype, sample_rate = excluded.sample_rate, channels = excluded.channels,
    frames = excluded.frames, duration_sec = excluded.duration_sec, sha1 = excluded.sha1, status = excluded.status,
    error = excluded.error, last_seen = excluded.last_seen, scanned_at = excluded.scanned_at;

-- name: mark_missing
-- The recordings of the files in $rel_paths vanished: they become 'missing' (no row is ever deleted).
UPDATE recordings SET status = 'missing' WHERE list_contains($rel_paths, rel_path);

-- name: mark_seen
-- Every recording not missing was seen by the scan at $now.
UPDATE recordings SET last_seen = $now WHERE status <> 'missing';

-- name: relabel
-- New participant labels (the registered table relabelled: rel_path, pid).
UPDATE recordings SET participant_id = relabelled.pid FROM relabelled
WHERE recordings.rel_path = relabelled.rel_path;

-- name: update_header
-- Replace recording $recording_id's header values (validate found the header changed although the file's
-- size and mtime did not).
UPDATE recordings
SET format = $format, subtype = $subtype, sample_rate = $sample_rate, channels = $channels, frames = $frames,
    duration_sec = $duration_sec
WHERE recording_id = $recording_id;

-- name: set_state
-- Set the catalog fact $key to $value.
INSERT OR REPLACE INTO catalog_state VALUES ($key, $value);

-- name: forget_denied
-- The scan's 'permission_denied' findings, before this scan's are stored.
DELETE FROM findings WHERE stage = 'scan' AND code = 'permission_denied';

-- name: add_denied
-- One 'permission_denied' warning per row of (recording_id, message, found_at).
INSERT INTO findings VALUES (?, 'permission_denied', 'warning', ?, 'scan', ?);

-- name: add_denied_in_folders
-- A 'permission_denied' warning at $now for every recording inside one of the folders $folders (rel_paths
-- ending in '/'): it is kept as it was, not marked missing.
INSERT INTO findings
SELECT recording_id, 'permission_denied', 'warning',
       rel_path || ' is in a folder this user cannot list (permission denied): kept as it was, '
       || 'not marked missing.', 'scan', $now
FROM recordings WHERE len(list_filter($folders, lambda d: starts_with(rel_path, d))) > 0
ORDER BY rel_path;
