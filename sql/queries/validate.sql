-- Writes of `homecat validate` (homecat/validate.py). $stage is 'validate'.

-- name: forget_recording
-- Recording $recording_id's findings of stage $stage, before its new ones are stored.
DELETE FROM findings WHERE recording_id = $recording_id AND stage = $stage;

-- name: forget_stats
-- Recording $recording_id's stats, before its new ones are stored.
DELETE FROM audio_stats WHERE recording_id = $recording_id;

-- name: forget_levels
-- Recording $recording_id's window levels, before its new ones are stored.
DELETE FROM levels WHERE recording_id = $recording_id;

-- name: add_finding
-- One finding: (recording_id, code, severity, message, stage, found_at).
INSERT INTO findings VALUES (?, ?, ?, ?, ?, ?);

-- name: add_stats
-- One recording's stats (the keys of validate._STATS_COLUMNS).
INSERT INTO audio_stats (
    recording_id, size_bytes, mtime_ns, frames_read, duration_sec, rms_dbfs, peak_dbfs, dc_offset, clip_fraction,
    window_sec, noise_floor_dbfs, activity_threshold_dbfs, threshold_source, silent_fraction, active_sec,
    content_digest, validated_at
)
VALUES (
    $recording_id, $size_bytes, $mtime_ns, $frames_read, $duration_sec, $rms_dbfs, $peak_dbfs, $dc_offset,
    $clip_fraction, $window_sec, $noise_floor_dbfs, $activity_threshold_dbfs, $threshold_source, $silent_fraction,
    $active_sec, $content_digest, $validated_at
);

-- name: add_levels
-- One recording's window levels (the registered table levels_batch, in the columns of levels).
INSERT INTO levels SELECT * FROM levels_batch;

-- name: forget_stale_unreadable
-- Scan's 'unreadable' findings whose recording is readable again or whose message no longer says why.
DELETE FROM findings f WHERE f.stage = 'scan' AND f.code = 'unreadable' AND NOT EXISTS (
    SELECT 1 FROM recordings r WHERE r.recording_id = f.recording_id AND r.status = 'unreadable'
    AND f.message = r.rel_path || ' cannot be read: ' || rtrim(coalesce(r.error, 'unknown error'), '.') || '.'
);

-- name: add_unreadable
-- An error finding (stage 'scan', found at $now) for every unreadable recording that has none.
INSERT INTO findings
SELECT recording_id, 'unreadable', 'error',
       rel_path || ' cannot be read: ' || rtrim(coalesce(error, 'unknown error'), '.') || '.', 'scan', $now
FROM recordings r
WHERE status = 'unreadable'
  AND NOT EXISTS (SELECT 1 FROM findings f WHERE f.recording_id = r.recording_id AND f.stage = 'scan'
                  AND f.code = 'unreadable')
ORDER BY rel_path;

-- name: forget_unreadable_stats
-- What validate learnt about an earlier, readable version of a file now unreadable no longer holds.
DELETE FROM audio_stats WHERE recording_id IN (SELECT recording_id FROM recordings WHERE status = 'unreadable');

-- name: forget_unreadable_levels
-- As forget_unreadable_stats, for the window levels.
DELETE FROM levels WHERE recording_id IN (SELECT recording_id FROM recordings WHERE status = 'unreadable');

-- name: forget_unreadable_findings
-- As forget_unreadable_stats, for the findings of stage $stage.
DELETE FROM findings WHERE stage = $stage AND recording_id IN (
    SELECT recording_id FROM recordings WHERE status = 'unreadable'
);

-- name: forget_duplicates
-- The 'duplicate' warnings of stage $stage, before they are recomputed.
DELETE FROM findings WHERE stage = $stage AND code = 'duplicate';

-- name: add_duplicates
-- A 'duplicate' warning (stage $stage, found at $now) on every readable recording whose bytes equal an
-- earlier one's (by rel_path): sha1 if both have one, else the content digest.
INSERT INTO findings
SELECT b.recording_id, 'duplicate', 'warning',
       b.rel_path || ' has the same content as ' || min(a.rel_path) || ' ('
       || CASE WHEN bool_and(a.sha1 IS NOT NULL AND b.sha1 IS NOT NULL) THEN 'same SHA-1'
               ELSE 'same size and first/last 64 KiB' END || ').',
       $stage, $now
FROM (recordings JOIN audio_stats USING (recording_id)) a
JOIN (recordings JOIN audio_stats USING (recording_id)) b
  ON a.rel_path < b.rel_path
 AND CASE WHEN a.sha1 IS NOT NULL AND b.sha1 IS NOT NULL THEN a.sha1 = b.sha1
          ELSE a.content_digest = b.content_digest END
WHERE a.status = 'ok' AND b.status = 'ok'
GROUP BY b.recording_id, b.rel_path
ORDER BY b.rel_path;
