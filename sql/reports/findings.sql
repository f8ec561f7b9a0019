-- name: findings
-- Every finding of `homecat validate` (and scan's unreadable files), worst first, naming the file;
-- $code and $severity narrow it down (NULL: all).
SELECT f.severity, f.code, r.participant_id, r.rel_path, f.message, f.stage, f.found_at
FROM findings f
LEFT JOIN recordings r USING (recording_id)
WHERE ($code IS NULL OR f.code = $code)
  AND ($severity IS NULL OR f.severity = $severity)
ORDER BY list_position(['error', 'warning', 'info'], f.severity), r.rel_path, f.code;
