-- name: participants
-- One row per participant: files, readable hours, validated hours, hours excluded by errors, and
-- usable hours (readable, validated, no error finding) with their active hours; age at recording in
-- months (youngest and oldest recording; from ChildProject metadata or `homecat participants import`), sex,
-- site and family where known; no_age_because: why some of its recordings (not missing) have no age.
WITH r AS (
    SELECT
        r.*,
        a.recording_id IS NOT NULL AND a.size_bytes = r.size_bytes AND a.mtime_ns = r.mtime_ns AS validated,
        EXISTS (SELECT 1 FROM findings f WHERE f.recording_id = r.recording_id AND f.severity = 'error') AS has_error,
        a.active_sec
    FROM recordings r LEFT JOIN audio_stats a USING (recording_id)
)
SELECT
    participant_id,
    count(*) AS files,
    count(*) FILTER (WHERE status = 'ok') AS readable_files,
    round(coalesce(sum(duration_sec) FILTER (WHERE status = 'ok'), 0) / 3600.0, 4) AS hours,
    count(*) FILTER (WHERE status = 'ok' AND validated) AS validated_files,
    count(*) FILTER (WHERE has_error OR status = 'unreadable') AS files_with_errors,
    round(coalesce(sum(duration_sec) FILTER (WHERE status = 'ok' AND validated AND NOT has_error), 0) / 3600.0, 4)
        AS usable_hours,
    round(coalesce(sum(active_sec) FILTER (WHERE status = 'ok' AND validated AND NOT has_error), 0) / 3600.0, 4)
        AS usable_active_hours,
    round(min(g.age_months), 1) AS age_months_min,
    round(max(g.age_months), 1) AS age_months_max,
    any_value(g.sex) AS sex,
    any_value(g.site) AS site,
    any_value(g.family_id) AS family_id,
    string_agg(DISTINCT g.age_missing_because, '; ' ORDER BY g.age_missing_because)
        FILTER (WHERE status <> 'missing') AS no_age_because
FROM r
LEFT JOIN recording_ages AS g USING (recording_id, participant_id)
GROUP BY participant_id
ORDER BY participant_id;
