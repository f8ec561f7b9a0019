-- schema v14: a ChildProject dataset's families (a family_id or family column of children.csv) group its
-- siblings in splits, as the participants table and the path do for a folder corpus.

-- The child's family from children.csv; NULL where the dataset has none.
ALTER TABLE recording_meta ADD COLUMN family_id VARCHAR;

-- As v11's view, with the ChildProject family first among the recording-level sources (the participants
-- table still wins).
CREATE OR REPLACE VIEW recording_groups AS
WITH path_family AS (
    SELECT r.participant_id, min(coalesce(m.family_id, t.family_id, p.family_id)) AS family_id
    FROM recordings AS r
    LEFT JOIN recording_meta AS m USING (recording_id)
    LEFT JOIN (SELECT * FROM recording_dates WHERE kind = 'table') AS t USING (recording_id)
    LEFT JOIN (SELECT * FROM recording_dates WHERE kind = 'path') AS p USING (recording_id)
    WHERE r.participant_id <> 'unknown'
    GROUP BY r.participant_id
)
SELECT
    r.recording_id, r.participant_id,
    CASE WHEN r.participant_id <> 'unknown' THEN coalesce(pt.family_id, f.family_id) END AS family_id,
    CASE
        WHEN r.participant_id = 'unknown' THEN 'unknown:' || r.recording_id
        WHEN coalesce(pt.family_id, f.family_id) IS NOT NULL THEN 'family:' || coalesce(pt.family_id, f.family_id)
        ELSE r.participant_id
    END AS group_key
FROM recordings AS r
LEFT JOIN participants AS pt ON pt.participant_id = r.participant_id
LEFT JOIN path_family AS f ON f.participant_id = r.participant_id;
