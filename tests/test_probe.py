"""`homecat probe` and `homecat evaluate` on the demo corpus (real audio, real catalog, tiny random models)."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import yaml
from typer.testing import CliRunner

from homecat.catalog import Catalog
from homecat.cli import app
from homecat.demo import make_demo_corpus
from homecat.embed import embed
from homecat.errors import HomecatError
from homecat.evaluate import COLUMNS, evaluate_models
from homecat.plots import plot_probe
from homecat.probe import _check_folds, probe
from homecat.scan import scan
from homecat.settings import load_settings
from homecat.split import assign_splits
from homecat.validate import validate
from tests.test_embed import add_segments, save_tiny_model


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict:
    """The demo corpus scanned, validated and split, its annotations.csv as segments, embedded once with a tiny
    random model and eGeMAPS. 5 families: P01-P04 and the 'unknown' participant's one recording."""
    base = tmp_path_factory.mktemp("probe")
    corpus = make_demo_corpus(base / "raw", minutes=1.0)
    settings = _settings(base)
    with Catalog.open(settings.paths) as catalog:
        scan(catalog, settings.data)
        validate(catalog, settings.validate, settings.data, workers=1)
        assign_splits(catalog, settings.split)
        ids = dict(catalog.con.execute("SELECT rel_path, recording_id FROM recordings").fetchall())
    with open(corpus.events_csv, newline="") as f:
        events = list(csv.DictReader(f))
    rows = [
        (hashlib.sha1(f"{e['recording']}|{e['start_sec']}".encode()).hexdigest()[:16], ids[e["recording"]],
         float(e["start_sec"]), float(e["end_sec"]), e["label"])
        for e in events
    ]  # fmt: skip
    add_segments(settings.paths.catalog, rows)
    models = {
        "base": save_tiny_model(base / "models" / "base", seed=0),
        "run": save_tiny_model(base / "models" / "run", seed=1),
    }
    embed(settings, models=[str(models["base"])], features=["egemaps"])
    return {"base": base, "settings": settings, "models": models, "n_segments": len(rows)}


def _settings(base: Path, **overrides):
    values = {
        "paths.catalog": base / "catalog.duckdb",
        "paths.artifacts_dir": base / "artifacts",
        "data.raw_audio_root": base / "raw",
        "split.dev_fraction": 0.3,
        "crops.crop_sec": 0.5,
        "crops.dev_crop_count": 6,
        "training.num_negatives": 10,
        **overrides,
    }
    return load_settings(overrides=values, environ={}, cwd=base).settings


@pytest.fixture(autouse=True)
def _fresh_accelerate_state():
    """Accelerate keeps process-wide singletons; each in-process evaluation starts from a clean one."""
    from accelerate.state import AcceleratorState, GradientState

    yield
    AcceleratorState._reset_state(True)
    GradientState._reset_state()


def test_probe_far_above_chance_on_the_demo_labels_and_folds_never_split_a_family(demo, tmp_path):
    settings = demo["settings"]
    run = probe(settings)
    assert run.labels == ["adult", "infant", "noise"] and run.n_participants == 5 and run.n_folds == 5
    # the default 8 folds (enough for a paired p < 0.05) on 5 families: one fold per family, said aloud
    assert settings.probe.probe_folds == 8 and run.notes == [
        "5 families, fewer than probe.probe_folds 8: one fold per family (a paired test over 5 folds cannot reach "
        "p < 0.05)"
    ]
    by_set = {(r["set"], r["layer"]): r for r in run.rows}
    assert set(by_set) == {("base", 0), ("base", 1), ("base", 2), ("egemaps", 0)}
    with Catalog.open(settings.paths) as catalog:
        labels_per_fold = catalog.con.execute(
            """SELECT count(DISTINCT s.label) FROM probe_folds f JOIN segments s USING (segment_id)
               WHERE f.probe_id = ? GROUP BY f.fold""",
            [run.probe_id],
        ).fetchall()
    # what a constant guess scores, fold by fold: 1/3, or 1/2 where a fold's families made no noise
    chance = float(np.mean([1 / n for (n,) in labels_per_fold]))
    assert len(labels_per_fold) == 5 and 1 / 3 <= chance < 0.5
    assert by_set["egemaps", 0]["uar"] > 0.8
    assert max(by_set["base", k]["uar"] for k in range(3)) > 0.6  # even a random tiny model hears pitch
    for r in run.rows:
        assert r["chance"] == pytest.approx(chance) and r["n_segments"] == run.n_segments <= demo["n_segments"]
        assert 0 <= r["uar_sd"] < 0.5 and 0 <= r["macro_f1"] <= 1

    with Catalog.open(settings.paths) as catalog:
        straddling = catalog.con.execute(
            """SELECT r.participant_id, count(DISTINCT f.fold) FROM probe_folds f
               JOIN segments s USING (segment_id) JOIN recordings r USING (recording_id)
               WHERE f.probe_id = ? GROUP BY 1 HAVING count(DISTINCT f.fold) > 1""",
            [run.probe_id],
        ).fetchall()
        n_folds_rows = catalog.con.execute(
            "SELECT count(*) FROM probe_folds WHERE probe_id = ?", [run.probe_id]
        ).fetchone()
        n_results = catalog.con.execute(
            "SELECT count(*) FROM probe_results WHERE probe_id = ?", [run.probe_id]
        ).fetchone()
    assert straddling == [] and n_folds_rows == (run.n_segments,) and n_results == (4,)
    # each set's honest score: base's layer chosen per fold by inner folds, eGeMAPS's only layer
    chosen = {c["set"]: c for c in run.chosen}
    assert chosen["base"]["selection"] == "inner folds" and chosen["egemaps"]["selection"] == "only layer"
    assert chosen["egemaps"]["layers"] == "0,0,0,0,0" and chosen["egemaps"]["uar"] == by_set["egemaps", 0]["uar"]
    assert set(chosen["base"]["layers"].split(",")) <= {"0", "1", "2"}
    assert min(by_set["base", k]["uar"] for k in range(3)) - 0.2 <= chosen["base"]["uar"]
    assert chosen["base"]["uar"] <= max(by_set["base", k]["uar"] for k in range(3)) + 1e-9
    for c in run.chosen:
        assert set(c["recall"]) == set(run.labels) and all(0 <= r <= 1 for r in c["recall"].values())
        assert sum(n for row in c["confusion"].values() for n in row.values()) == run.n_segments
    assert len(run.fold_scores) == 4 * 5 and sum(r["chosen"] for r in run.fold_scores) == 2 * 5

    again = probe(settings)  # the same probe again replaces its rows, with the same numbers
    assert again.probe_id == run.probe_id and again.rows == run.rows
    with Catalog.open(settings.paths) as catalog:
        assert catalog.con.execute("SELECT count(*) FROM probe_results").fetchone() == (4,)
    png = plot_probe(run, tmp_path / "probe.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # the paired comparison of two sets of this probe, from the catalog: fold by fold at their chosen layers
    compare = ["--catalog", str(settings.paths.catalog), "probe", "--compare", "base", "egemaps"]
    line = CliRunner().invoke(app, compare)
    assert line.exit_code == 0, line.output
    fold_diffs = [chosen["base"]["fold_uars"][k] - chosen["egemaps"]["fold_uars"][k] for k in range(5)]
    uar_line, f1_line = line.stdout.strip().splitlines()
    assert uar_line.startswith(f"uar: base vs egemaps {np.mean(fold_diffs):+.3f} (95% CI ")
    assert "over 5 folds), sign-flip p = " in uar_line and f1_line.startswith("macro_f1: base vs egemaps")
    [record, _] = json.loads(CliRunner().invoke(app, [*compare, "--format", "json"]).stdout)
    assert record["mean_diff"] == pytest.approx(np.mean(fold_diffs))
    assert record["verdict"] in ("better", "not distinguishable", "worse") and record["n_folds"] == 5


def test_probe_clear_errors(demo):
    settings = demo["settings"]
    with pytest.raises(HomecatError, match=r"from 5 participants, fewer than the 6 folds: use --folds 5"):
        probe(settings, folds=6)
    with pytest.raises(HomecatError, match="at least 2 labels.*found 1 \\(adult\\)"):
        probe(settings, labels=["adult"])
    with pytest.raises(HomecatError, match="There is no embedding set 'nope'; sets: base, egemaps"):
        probe(settings, sets=["nope"])
    with pytest.raises(HomecatError, match="No segment labelled 'cry'"):
        probe(settings, labels=["adult", "cry"])


def test_a_label_of_one_family_is_named(tmp_path, settings_for):
    """Extra segments labelled 'cry' only in P01's recording: one sentence naming the label and the family."""
    from tests.conftest import write_tone

    root = tmp_path / "raw"
    for p in ("P01", "P02", "P03"):
        write_tone(root / p / f"{p}.wav", 8.0)
    settings = settings_for(root, **{"paths.artifacts_dir": tmp_path / "artifacts"})
    with Catalog.open(settings.paths) as catalog:
        scan(catalog, settings.data)
    rows = [
        (f"{p}-{i}", p, i * 0.5, i * 0.5 + 0.4, "talk" if i % 2 else "quiet")
        for p in ("P01", "P02", "P03")
        for i in range(8)
    ]
    rows += [("P01-cry", "P01", 5.0, 6.0, "cry")]
    add_segments(settings.paths.catalog, rows)
    embed(settings, features=["egemaps"])
    with pytest.raises(HomecatError, match=r"The label 'cry' occurs in only one family \(P01\).*--labels"):
        probe(settings, folds=3)
    run = probe(settings, labels=["talk", "quiet"], folds=3)
    assert run.n_segments == 24 and run.n_participants == 3

    # 'cry' in two of three families: with one family per fold, P03's test part has no cry, so a constant guess
    # scores 1/2 there and 1/3 in the other folds; chance must say so, not 1/3.
    add_segments(settings.paths.catalog, [("P02-cry", "P02", 5.0, 6.0, "cry")])
    embed(settings, features=["egemaps"])
    run = probe(settings, folds=3)
    assert run.rows[0]["chance"] == pytest.approx((1 / 3 + 1 / 3 + 1 / 2) / 3)


def test_a_fold_that_cannot_learn_a_label_or_holds_nothing_is_one_sentence():
    y = np.array(["a", "a", "b", "b", "c", "c"])
    with pytest.raises(HomecatError, match=r"Every family with the label 'c' is in the test part of fold 2 of 2"):
        _check_folds(y, np.array([0, 1, 0, 1, 1, 1]), 2, ["a", "b", "c"])
    with pytest.raises(HomecatError, match=r"fold 3 of 3 holds no segment.*fewer --folds"):
        _check_folds(y, np.array([0, 1, 0, 1, 0, 1]), 3, ["a", "b", "c"])
    _check_folds(y, np.array([0, 1, 0, 1, 0, 1]), 2, ["a", "b", "c"])  # every fold can learn every label


def test_cli_probe_json_records_and_plot(demo, tmp_path):
    settings = demo["settings"]
    env = {"HOMECAT_ARTIFACTS_DIR": str(settings.paths.artifacts_dir)}
    png = tmp_path / "p.png"
    args = [
        "--catalog",
        str(settings.paths.catalog),
        "probe",
        "--embedding-set",
        "egemaps",
        "--label",
        "adult",
        "--label",
        "infant",
    ]
    result = CliRunner().invoke(app, [*args, "--folds", "3", "--plot", str(png), "--format", "json"], env=env)
    assert result.exit_code == 0, result.output
    [record] = json.loads(result.stdout)  # one row per set: its honest score, recall and confusion counts
    assert {"set", "layers", "uar", "uar_sd", "macro_f1", "n_segments", "n_participants", "n_folds", "chance",
            "recall_adult", "recall_infant", "n_adult_as_adult", "n_adult_as_infant", "n_infant_as_adult",
            "n_infant_as_infant"} <= set(record)  # fmt: skip
    assert (record["set"], record["n_folds"], record["chance"]) == ("egemaps", 3, 0.5) and png.stat().st_size > 0
    assert record["layers"] == "0,0,0"
    n_adult = record["n_adult_as_adult"] + record["n_adult_as_infant"]
    assert record["recall_adult"] == pytest.approx(record["n_adult_as_adult"] / n_adult)
    table = CliRunner().invoke(app, [*args, "--folds", "3"], env=env)
    assert table.exit_code == 0, table.output
    assert "recall_infant" in table.stdout and "confusion matrix" in table.stdout and "by layer" in table.stdout
    result = CliRunner().invoke(app, [*args, "--folds", "9"], env=env)
    assert (
        result.exit_code == 1
        and len(result.stderr.strip().splitlines()) == 1
        and "fewer than the 9 folds" in result.stderr
    )


def test_evaluate_same_model_same_numbers_other_model_other_numbers(demo, tmp_path):
    from transformers import Wav2Vec2Model

    settings = demo["settings"]
    base, other = str(demo["models"]["base"]), str(demo["models"]["run"])
    rows = evaluate_models(settings, [base, other, base])
    assert [r["model"] for r in rows] == [base, other, base]
    assert rows[0] == rows[2] and rows[0]["dev_crops"] == 6
    assert rows[0]["loss_per_masked_frame"] != rows[1]["loss_per_masked_frame"]
    for r in rows:
        assert r["loss_per_masked_frame"] > 0 and 0 <= r["contrastive_accuracy"] <= 1 and r["codevector_perplexity"] > 1
    # a training config with a speech crop policy (as the demo's) evaluates on the same fixed dev crops
    mixture = settings.model_copy(update={"crops": settings.crops.model_copy(update={"crop_policy": "mixture"})})
    assert evaluate_models(mixture, [base]) == rows[:1]

    bare = tmp_path / "bare"
    Wav2Vec2Model.from_pretrained(base).save_pretrained(bare)  # the encoder only: no quantizer, no projections
    with pytest.raises(HomecatError, match="has no pretraining heads \\(project_hid, project_q, quantizer missing\\)"):
        evaluate_models(settings, [str(bare)])
    result = CliRunner().invoke(
        app, ["--catalog", str(settings.paths.catalog), "evaluate", "--model", base, "--format", "csv"],
        env={"HOMECAT_CROP_SEC": "0.5", "HOMECAT_DEV_CROP_COUNT": "6", "HOMECAT_NUM_NEGATIVES": "10"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    header, line = result.stdout.strip().splitlines()
    assert header == ",".join(COLUMNS)
    assert float(line.split(",")[1]) == pytest.approx(rows[0]["loss_per_masked_frame"])


def test_a_random_init_run_keeps_its_start_for_embed_and_evaluate(demo):
    """training.base_model null: the run folder holds initial/ (the seeded random start) beside final/."""
    from homecat.embed import default_set_name
    from homecat.train import train
    from tests.conftest import TINY

    settings = demo["settings"]
    t = settings.training.model_copy(
        update={"base_model": None, "model_overrides": TINY, "run_name": "tiny-run", "max_steps": 2,
                "per_gpu_batch": 2, "grad_accum_steps": 1, "num_workers": 0, "save_steps": 1, "eval_steps": 100,
                "warmup_steps": 1, "learning_rate": 5e-3, "gradient_checkpointing": False, "report_to": "none"}
    )  # fmt: skip
    run = train(settings.model_copy(update={"training": t}), show_progress=False)
    initial, final = run / "initial", run / "final"
    assert (initial / "model.safetensors").is_file() and (initial / "preprocessor_config.json").is_file()
    assert (default_set_name(str(initial)), default_set_name(str(final))) == ("tiny-run-initial", "tiny-run")
    rows = evaluate_models(settings, [str(initial), str(final)])
    assert rows[0]["loss_per_masked_frame"] != rows[1]["loss_per_masked_frame"]
    summaries = embed(settings, models=[str(initial), str(final)], labels=["infant"])
    assert [s.set_name for s in summaries] == ["tiny-run-initial", "tiny-run"]
    assert summaries[0].segments == summaries[1].segments > 0

    # over the run: its start and every checkpoint, each once (final/ is step_2: not twice); a rerun computes nothing
    catalog = ["--catalog", str(settings.paths.catalog)]
    env = {"HOMECAT_ARTIFACTS_DIR": str(settings.paths.artifacts_dir)}
    first = CliRunner().invoke(app, [*catalog, "embed", "--run", str(run), "--format", "json"], env=env)
    assert first.exit_code == 0, first.output
    sets = {r["set"]: r for r in json.loads(first.stdout)}
    assert list(sets) == ["tiny-run-initial", "tiny-run-step_1", "tiny-run-step_2"]
    assert sets["tiny-run-step_1"]["computed"] == demo["n_segments"] - sets["tiny-run-step_1"]["too_short"]
    again = CliRunner().invoke(app, [*catalog, "embed", "--run", str(run), "--format", "json"], env=env)
    assert again.exit_code == 0 and all(r["computed"] == 0 for r in json.loads(again.stdout))

    plot = demo["base"] / "run-probe.png"
    result = CliRunner().invoke(
        app, [*catalog, "probe", "--run", str(run), "--format", "json", "--plot", str(plot)], env=env
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["step"], r["set"]) for r in rows] == [
        (0, "tiny-run-initial"), (1, "tiny-run-step_1"), (2, "tiny-run-step_2"), (None, "egemaps")
    ]  # fmt: skip
    assert all(0 <= r["uar"] <= 1 and r["uar_sd"] >= 0 for r in rows) and plot.stat().st_size > 10_000

    # the model card carries the evidence: dev figures at step 0 and 2, the probe table (as text and model-index),
    # and nothing naming a family (the privacy check of stage() would refuse it; the ids are checked here too)
    from homecat.hub import stage

    hub = settings.hub.model_copy(update={"license": "cc-by-4.0", "language": ["en"], "card_tags": ["infants"]})
    card = stage(settings.model_copy(update={"hub": hub}), run=run).card
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["license"] == "cc-by-4.0" and meta["language"] == ["en"] and "infants" in meta["tags"]
    results = meta["model-index"][0]["results"]
    uar = next(r for r in results if r["metrics"][0]["type"] == "uar")
    # Which probe row the card quotes is evidence.py's choice (the set's honest score at its chosen layers, or
    # its best row by layer): either is one of this probe's numbers for that set.
    with Catalog.open(settings.paths.catalog, read_only=True) as c:
        _, by_layer = c.rows(
            "SELECT set_name, uar, uar_sd FROM probe_results WHERE probe_id = "
            "(SELECT probe_id FROM probe_results ORDER BY created_at DESC LIMIT 1) ORDER BY uar DESC"
        )
    best = {}
    for name, value, sd in by_layer:
        best.setdefault(name, (value, sd))
    quoted = {r["set"]: [(r["uar"], r["uar_sd"]), best[r["set"]]] for r in rows}
    assert any(uar["metrics"][0]["value"] == pytest.approx(v, abs=1e-4) for v, _ in quoted["tiny-run-step_2"])
    assert "| Dev metric | step 0 | step 2 |" in card and "Verdict of the run: **" in card
    for role, row in (("this model", rows[2]), ("starting model", rows[0]), ("eGeMAPS", rows[3])):
        assert f"| {role} | " in card
        assert any(f"{v:.3f} ± {sd:.3f}" in card for v, sd in quoted[row["set"]])
    assert "segments from 5 families, in 5 folds grouped by family" in card
    assert "tiny-run" not in card.split("## How to use")[0].split("---\n", 2)[2]  # roles, not set names
    for participant in ("P01", "P02", "P03", "P04"):
        assert participant not in card


def _ill_conditioned(n: int, dim: int, n_classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Vectors with 6 strong shared factors (as hidden states have), an offset (standardisation matters) and a
    constant dimension (StandardScaler leaves it 0); classes in the demo's proportions."""
    rng = np.random.default_rng(seed)
    labels = np.array(["adult", "infant", "noise"])[:n_classes]
    odds = np.array([0.55, 0.35, 0.10])[:n_classes]
    y = labels[rng.choice(n_classes, size=n, p=odds / odds.sum())]
    directions = {label: rng.standard_normal(dim) for label in labels}
    X = rng.standard_normal((n, 6)) @ (4 * rng.standard_normal((6, dim))) + rng.standard_normal((n, dim))
    X += 0.4 * np.stack([directions[label] for label in y]) + 5.0
    X[:, 0] = 1.0
    return X, y


@pytest.mark.parametrize("c", [0.01, 1.0, 100.0])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize(("n", "dim"), [(120, 24), (36, 80)], ids=["n>d", "d>n"])
def test_the_probe_classifier_is_scikit_learns(n, dim, n_classes, c):
    """homecat.probe_fit minimises scikit-learn's objective for StandardScaler + LogisticRegression(C,
    class_weight='balanced'), binary (one weight vector) as well as multinomial: coefficients within 1% (relative
    norm of the difference) and the same predictions, on ill-conditioned vectors, with d > n too."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from homecat.probe_fit import fit

    X, y = _ill_conditioned(n, dim, n_classes)
    scaler = StandardScaler().fit(X)
    reference = LogisticRegression(C=c, class_weight="balanced", tol=1e-8, max_iter=20_000).fit(scaler.transform(X), y)
    model = fit(X, y, c=c, max_iter=5000, tol=1e-6)
    assert model.converged
    assert model.coef.shape == (dim, 1 if n_classes == 2 else 3)
    difference = np.linalg.norm(model.coef.T - reference.coef_) / np.linalg.norm(reference.coef_)
    assert difference < 0.01
    assert model.intercept == pytest.approx(
        reference.intercept_, rel=0.01, abs=1e-3 * np.abs(reference.intercept_).max()
    )
    assert (model.predict(X) == reference.predict(scaler.transform(X))).all()
    # new vectors: the same class wherever scikit-learn's top two scores are not a near tie (1% of its scale)
    X_new, _ = _ill_conditioned(200, dim, n_classes, seed=1)
    scores = reference.decision_function(scaler.transform(X_new))
    scores = np.column_stack([-scores / 2, scores / 2]) if scores.ndim == 1 else scores
    top_two = np.sort(scores, axis=1)[:, -2:]
    clear = top_two[:, 1] - top_two[:, 0] > 0.01 * np.abs(scores).max()
    assert clear.mean() > 0.9
    assert (model.predict(X_new)[clear] == reference.predict(scaler.transform(X_new))[clear]).all()


def test_the_tolerance_scales_with_c():
    """A strongly regularised probe (C = 0.01: small weights, small gradients) still iterates to scikit-learn's
    answer at the product's tolerance; an unscaled objective stopped after one iteration, 22-39% off."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from homecat.probe_fit import fit

    X, y = _ill_conditioned(150, 30, 2)
    reference = LogisticRegression(C=0.01, class_weight="balanced", tol=1e-10, max_iter=20_000)
    reference.fit(StandardScaler().fit_transform(X), y)
    model = fit(X, y, c=0.01, max_iter=1000, tol=1e-4)
    assert np.linalg.norm(model.coef.T - reference.coef_) / np.linalg.norm(reference.coef_) < 0.01


def test_fold_moments_give_the_training_sets_own_standardisation_and_gram():
    """The probe fits each layer on many unions of folds from per-(fold, class) moments: the same model as a fit
    on the rows alone."""
    from homecat.probe_fit import FoldMoments, fit

    X, y = _ill_conditioned(300, 20, 3)
    X[:, 1] *= 1000.0  # a dimension with a large scale and offset, as wav2vec2 hidden states have
    fold_of = np.arange(300) % 4
    moments = FoldMoments(X.astype(np.float32), y, fold_of)
    train = fold_of != 2
    stats = moments.train_stats([0, 1, 3])
    assert stats.mean == pytest.approx(X[train].mean(0), rel=1e-5, abs=1e-5)
    scale = X[train].std(0)
    scale[scale == 0] = 1.0
    assert stats.scale == pytest.approx(scale, rel=1e-4)
    alone = fit(X[train], y[train], c=1.0, max_iter=1000, tol=1e-6)
    shared = fit(X[train], y[train], c=1.0, max_iter=1000, tol=1e-6, stats=stats)
    assert np.linalg.norm(shared.coef - alone.coef) / np.linalg.norm(alone.coef) < 1e-3
    assert (shared.predict(X) == alone.predict(X)).all()


def test_probe_by_age_band_scores_each_band_with_its_counts(demo, tmp_path):
    """Two demo families are infants and two toddlers (a participants file); 'unknown' has no age."""
    settings = demo["settings"]
    catalog = str(settings.paths.catalog)
    children = tmp_path / "children.csv"
    children.write_text("participant_id,age_months\nP01,8\nP02,9\nP03,30\nP04,31\n")
    env = {"HOMECAT_ARTIFACTS_DIR": str(settings.paths.artifacts_dir)}
    assert (
        CliRunner().invoke(app, ["--catalog", catalog, "participants", "import", str(children)], env=env).exit_code == 0
    )
    try:
        args = [
            "--catalog",
            catalog,
            "probe",
            "--embedding-set",
            "egemaps",
            "--label",
            "adult",
            "--label",
            "infant",
            "--folds",
            "3",
        ]
        result = CliRunner().invoke(app, [*args, "--by", "age-band", "--format", "json"], env=env)
        assert result.exit_code == 0, result.output
        rows = json.loads(result.stdout)
        assert [r["age_band"] for r in rows] == ["(age unknown)", "06-12 months", "24-36 months"]
        assert [r["n_participants"] for r in rows] == [1, 2, 2]
        with Catalog.open(catalog, read_only=True) as c:
            _, [(total,)] = c.rows("SELECT count(*) FROM segments WHERE label IN ('adult', 'infant')")
        assert sum(r["n_segments"] for r in rows) == total
        assert all(0.0 <= r["uar"] <= 1.0 and r["labels"] == "adult,infant" for r in rows)
        bad = CliRunner().invoke(app, [*args, "--by", "sex"], env=env)
        assert bad.exit_code == 1 and "--by 'sex' is not one of age-band" in bad.stderr
    finally:  # the module's other tests see the demo without ages
        with Catalog.open(catalog) as c:
            c.con.execute("DELETE FROM participants")


def _synthetic_catalog(base: Path, n_families: int = 10, per_family: int = 24):
    """A catalog of ``n_families`` families, one recording each, ``per_family`` segments labelled child/adult
    alternately; no audio (the sets' vectors are written directly)."""
    settings = _settings(base)
    recordings = [(f"F{p:02d}", f"F{p:02d}_rec") for p in range(n_families)]
    ids = [f"s{p:02d}{i:03d}" for p in range(n_families) for i in range(per_family)]
    new_segments = pa.table({"segment_id": ids, "recording_id": [recordings[int(s[1:3])][1] for s in ids],
                             "start_sec": [float(s[3:]) for s in ids], "label": [("child", "adult")[int(s[3:]) % 2] for s in ids]})  # fmt: skip
    with Catalog.open(settings.paths.catalog) as catalog:
        catalog.con.executemany(
            "INSERT INTO recordings (rel_path, path, recording_id, participant_id, size_bytes, mtime_ns, status, "
            "first_seen, last_seen, scanned_at) VALUES (?, ?, ?, ?, 0, 0, 'ok', now(), now(), now())",
            [(f"{p}/{r}.wav", f"/nowhere/{p}/{r}.wav", r, p) for p, r in recordings],
        )
        catalog.con.register("new_segments", new_segments)
        catalog.con.execute(
            "INSERT INTO segments (segment_id, recording_id, start_sec, end_sec, label, tier, source, imported_at) "
            "SELECT segment_id, recording_id, start_sec, start_sec + 1.0, label, '', 'synthetic.csv', now() "
            "FROM new_segments"
        )
    return settings, ids


def _write_set(settings, name: str, ids: list[str], layers: np.ndarray) -> None:
    """An embedding set ``name`` holding ``layers`` (segments x layers x dim) for ``ids``, as `homecat embed`
    stores one."""
    from homecat.catalog import named_queries
    from homecat.embed import MANIFEST_NAME, _PartWriter

    folder = settings.paths.artifacts_dir / "embeddings" / name
    folder.mkdir(parents=True)
    writer = _PartWriter(folder, layers.shape[1], layers.shape[2], 256)
    for sid, vectors in zip(ids, layers):
        writer.add(sid, 50, vectors, "")
    writer.close()
    manifest = {"set_name": name, "kind": "wav2vec2", "model": name, "model_sha": hashlib.sha256(name.encode()).hexdigest(),
                "n_layers": layers.shape[1], "dim": layers.shape[2]}  # fmt: skip
    (folder / MANIFEST_NAME).write_text(json.dumps({**manifest, "settings": {}}))
    with Catalog.open(settings.paths.catalog) as catalog:
        catalog.con.execute(
            named_queries("queries/embed.sql")["upsert_embedding_set"].sql,
            {
                **manifest,
                "settings": "{}",
                "segment_count": len(ids),
                "path": f"embeddings/{name}",
                "weights_sha256": manifest["model_sha"],
                "run_name": None,
                "step": None,
            },
        )


def test_the_layer_is_chosen_on_the_training_families_never_on_the_scored_fold(tmp_path):
    """Layer 1 carries the label moderately in every family; layer 2 faintly, except in the families of one outer
    fold where it is loud: scored on that fold, layer 2 wins, yet the fold's layer is chosen on its training
    families (layer 1). Making that fold's vectors louder still changes nothing about its choice."""
    from homecat.probe import compare_sets

    settings, ids = _synthetic_catalog(tmp_path)
    rng = np.random.default_rng(0)
    y = np.array([("child", "adult")[int(s[-3:]) % 2] for s in ids])
    sign = np.where(y == "child", 1.0, -1.0)
    noise = rng.standard_normal((len(ids), 3, 8))
    _write_set(settings, "noise", ids, noise)
    first = probe(settings, sets=["noise"])
    with Catalog.open(settings.paths) as catalog:
        fold = dict(catalog.con.execute(
            "SELECT segment_id, fold FROM probe_folds WHERE probe_id = ?", [first.probe_id]).fetchall())  # fmt: skip
    planted_fold = 0
    in_fold = np.array([fold[s] == planted_fold for s in ids])

    def planted(loud: float) -> np.ndarray:
        layers = noise.copy()
        layers[:, 1, 0] += 1.0 * sign
        layers[:, 2, 0] += np.where(in_fold, loud, 0.25) * sign
        return layers

    _write_set(settings, "planted", ids, planted(4.0))
    _write_set(settings, "louder", ids, planted(8.0))
    _write_set(settings, "copy", ids, planted(4.0))
    run = probe(settings, sets=["planted", "louder", "copy"])
    with Catalog.open(settings.paths) as catalog:
        assert dict(catalog.con.execute(
            "SELECT segment_id, fold FROM probe_folds WHERE probe_id = ?", [run.probe_id]).fetchall()) == fold  # fmt: skip
    scores = {(r["set"], r["layer"], r["fold"]): r for r in run.fold_scores}
    # on the planted fold, layer 2 scores best: a choice made on the scored fold would take it
    assert scores["planted", 2, planted_fold]["uar"] > scores["planted", 1, planted_fold]["uar"]
    chosen = {c["set"]: c for c in run.chosen}
    assert chosen["planted"]["selection"] == "inner folds"
    assert chosen["planted"]["layers"].split(",")[planted_fold] == "1"
    assert scores["planted", 1, planted_fold]["chosen"] and not scores["planted", 2, planted_fold]["chosen"]
    assert chosen["planted"]["fold_uars"][planted_fold] == scores["planted", 1, planted_fold]["uar"]
    # the planted fold's inner scores never saw its vectors: louder ones there leave them unchanged
    for k in range(3):
        assert scores["louder", k, planted_fold]["inner_uar"] == scores["planted", k, planted_fold]["inner_uar"]
    # recall per class and the confusion counts of the chosen layers' out-of-fold predictions
    confusion = chosen["planted"]["confusion"]
    assert sum(sum(row.values()) for row in confusion.values()) == len(ids)
    assert chosen["planted"]["recall"]["child"] == confusion["child"]["child"] / (len(ids) / 2)
    with Catalog.open(settings.paths) as catalog:
        stored = catalog.con.execute(
            "SELECT set_name, layer, fold, uar, chosen FROM probe_fold_scores WHERE probe_id = ? AND chosen "
            "ORDER BY set_name, fold", [run.probe_id]).fetchall()  # fmt: skip
        counts = catalog.con.execute(
            "SELECT sum(n_segments) FROM probe_confusion WHERE probe_id = ? AND set_name = 'planted'",
            [run.probe_id]).fetchone()  # fmt: skip
    assert [r[1] for r in stored if r[0] == "planted"] == [int(k) for k in chosen["planted"]["layers"].split(",")]
    assert counts == (len(ids),)

    # two identical sets on the same folds: not distinguishable, p = 1
    same = compare_sets(settings, "planted", "copy")
    assert same.verdict == "not distinguishable" and same.p_value == 1.0 and same.fold_diffs == (0.0,) * run.n_folds
    with pytest.raises(HomecatError, match="No probe holds both 'planted' and 'noise': probe them together"):
        compare_sets(settings, "planted", "noise")

    # 2 folds leave no inner folds to choose a layer on: one sentence, unless the layer is fixed in advance
    with pytest.raises(HomecatError, match=r"Choosing the layer inside each of 2 folds needs at least 3"):
        probe(settings, sets=["planted"], folds=2)

    # fixed in advance: every fold at that layer, nothing chosen by inner folds
    fixed = probe(settings, sets=["planted"], layer=2)
    assert [(r["set"], r["layer"]) for r in fixed.rows] == [("planted", 2)]
    assert (
        fixed.chosen[0]["layers"] == ",".join(["2"] * fixed.n_folds)
        and fixed.chosen[0]["selection"] == "fixed (--layer)"
    )
    assert all(r["inner_uar"] is None for r in fixed.fold_scores)
    with pytest.raises(HomecatError, match=r"--layer 3 is not a layer of the set 'planted' \(layers 0 to 2\)"):
        probe(settings, sets=["planted"], layer=3)
