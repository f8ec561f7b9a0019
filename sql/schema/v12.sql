-- schema v12: the tier hierarchy of annotation files (`homecat segments import` of ELAN .eaf files).

-- The tier a segment's tier depends on (ELAN's PARENT_REF: words under an utterance, a vocalisation
-- type under a speaker's turn); '' for a top-level tier and for formats without a hierarchy.
ALTER TABLE segments ADD COLUMN parent_tier VARCHAR DEFAULT '';
UPDATE segments SET parent_tier = '' WHERE parent_tier IS NULL;
