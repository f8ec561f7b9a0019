-- schema v17: every probe's score on every outer fold, and which layer each fold's score counts for (chosen on
-- that fold's training families by inner folds, or fixed with --layer), so two sets probed on the same folds can
-- be compared fold by fold (homecat/compare.py); and the confusion counts of those chosen-layer predictions.

-- One row per (probe, set, layer, outer fold).
CREATE TABLE probe_fold_scores (
    probe_id        VARCHAR NOT NULL,
    set_name        VARCHAR NOT NULL,
    layer           INTEGER NOT NULL,
    fold            INTEGER NOT NULL,   -- the outer fold scored (probe_folds.fold)
    uar             DOUBLE NOT NULL,    -- balanced accuracy on the fold's test families, classifier fit on the rest
    macro_f1        DOUBLE NOT NULL,
    n_test_segments INTEGER NOT NULL,
    inner_uar       DOUBLE,             -- mean UAR over the inner folds (the fold's training families only); NULL
                                        -- where no layer was chosen by inner folds (--layer, a single-layer set)
    chosen          BOOLEAN NOT NULL    -- the layer this fold's score counts for the set (never chosen on the fold)
);
CREATE INDEX probe_fold_scores_probe ON probe_fold_scores (probe_id);

-- Out-of-fold predictions of each set's chosen layers, counted by (true label, predicted label).
CREATE TABLE probe_confusion (
    probe_id        VARCHAR NOT NULL,
    set_name        VARCHAR NOT NULL,
    true_label      VARCHAR NOT NULL,
    predicted_label VARCHAR NOT NULL,
    n_segments      INTEGER NOT NULL
);
CREATE INDEX probe_confusion_probe ON probe_confusion (probe_id);
