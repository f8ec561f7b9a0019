-- schema v8: names that are not valid UTF-8 (issue 15). A file system allows any bytes but '/' and NUL in a
-- name; text columns hold valid UTF-8 only. rel_path and path show such a name with each undecodable byte
-- written \xNN; path_bytes keeps the exact bytes of the absolute path, so the file can be opened again.
ALTER TABLE recordings ADD COLUMN path_bytes BLOB;  -- NULL when path is the name exactly (valid UTF-8)
