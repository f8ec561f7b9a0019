-- Writes of `homecat validate` (homecat/validate.py). $stage is 'validate'.

-- name: forget_validated
-- The findings of stage $stage of the recordings in the registered table validated_ids, before their new ones.
DELETE FROM findings WHERE stage = $stage AND recording_id IN (SELECT recording_id FROM validated_ids);

-- name: forget_validated_stats
-- The stats of the recordings in validated_ids, before their new ones are stored.
DELETE FROM audio_stats WHERE recording_id IN (SELECT recording_id FROM validated_ids);

-- name: forget_validated_levels
-- The window levels of the recordings in validated_ids, before their new ones are stored.
DELETE FROM levels WHERE recording_id IN (SELECT recording_id FROM validated_ids);

-- name: add_findings
-- Findings (the registered table findings_batch: recording_id, code, severity, message, stage, found_at).
INSERT INTO findings (recording_id, code, severity, message, stage, found_at)
SELECT recording_id, code, severity, message, stage, found_at FROM findings_batch;

-- name: add_stats
-- Recordings' stats (the registered table stats_batch, in the columns of validate._STATS_COLUMNS).
INSERT INTO audio_stats (
    recording_id, size_bytes, mtime_ns, frames_read, duration_sec, rms_dbfs, peak_dbfs, dc_offset, clip_fraction,
    window_sec, noise_floor_dbfs, activity_threshold_dbfs, threshold_source, silent_fraction, active_sec,
    content_digest, validated_at
)
SELECT
    recording_id, size_bytes, mtime_ns, frames_read, duration_sec, rms_dbfs, peak_dbfs, dc_offset, clip_fraction,
    window_sec, noise_floor_dbfs, activity_threshold_dbfs, threshold_source, silent_fraction, active_sec,
    content_digest, validated_at
FROM stats_batch;

-- name: add_levels
-- Recordings' window levels (the registered table levels_batch, in the columns of levels).
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
-- The duplicate findings of stage $stage ('duplicate', 'exact_duplicate', 'duplicate_kept'), before they are
-- recomputed.
DELETE FROM findings WHERE stage = $stage AND code IN ('duplicate', 'exact_duplicate', 'duplicate_kept');

-- name: add_duplicates
-- Findings (stage $stage, found at $now) on every readable recording whose bytes equal an earlier one's (by
-- rel_path): with $rule 'first-by-path' and the same SHA-1 on both (`scan --hash`), each later copy gets an
-- 'exact_duplicate' error naming the kept copy (the first by path), which gets a 'duplicate_kept' info naming
-- its excluded copies. Otherwise (rule 'keep-all', or the same size and first/last 64 KiB only) the later
-- copies get a 'duplicate' warning and all of them train.
INSERT INTO findings
WITH ok AS (
    SELECT recording_id, rel_path, sha1, content_digest FROM recordings JOIN audio_stats USING (recording_id)
    WHERE status = 'ok'
),
pairs AS (
    SELECT b.recording_id, b.rel_path, min(a.rel_path) AS first_path,
           bool_and(a.sha1 IS NOT NULL AND b.sha1 IS NOT NULL) AS exact
    FROM ok AS a
    JOIN ok AS b
      ON a.rel_path < b.rel_path
     AND CASE WHEN a.sha1 IS NOT NULL AND b.sha1 IS NOT NULL THEN a.sha1 = b.sha1
              ELSE a.content_digest = b.content_digest END
    GROUP BY b.recording_id, b.rel_path
),
copies AS (
    SELECT *, exact AND $rule = 'first-by-path' AS excluded FROM pairs
)
SELECT recording_id,
       CASE WHEN excluded THEN 'exact_duplicate' ELSE 'duplicate' END,
       CASE WHEN excluded THEN 'error' ELSE 'warning' END,
       CASE
           WHEN excluded THEN rel_path || ' is an exact copy of ' || first_path || ' (same SHA-1): only '
               || first_path || ' trains (validate.duplicate_rule first-by-path).'
           WHEN exact THEN rel_path || ' has the same content as ' || first_path
               || ' (same SHA-1); both train (validate.duplicate_rule keep-all).'
           ELSE rel_path || ' has the same content as ' || first_path
               || ' (same size and first/last 64 KiB); both train: run ''homecat scan --hash'' to confirm.'
       END,
       $stage, $now
FROM copies
UNION ALL
SELECT k.recording_id, 'duplicate_kept', 'info',
       k.rel_path || ' trains; its exact ' || CASE WHEN count(*) = 1 THEN 'copy ' ELSE 'copies ' END
       || string_agg(c.rel_path, ', ' ORDER BY c.rel_path) || ' ' || CASE WHEN count(*) = 1 THEN 'is' ELSE 'are' END
       || ' excluded (validate.duplicate_rule first-by-path).',
       $stage, $now
FROM copies AS c
JOIN ok AS k ON k.rel_path = c.first_path
WHERE c.excluded
GROUP BY k.recording_id, k.rel_path
