-- schema v7: the mark of a homecat catalog.
-- homecat opens a DuckDB file only if it has this table (or, written before v7, both
-- schema_version and recordings) or has no tables at all; any other database is someone else's
-- and is refused before anything is added to it. One row, never changed.
CREATE TABLE homecat_catalog (
    note VARCHAR NOT NULL  -- what the file is, for someone who opens it with another tool
);
INSERT INTO homecat_catalog VALUES ('A homecat catalog of audio recordings: see the homecat README, section "The catalog".');
