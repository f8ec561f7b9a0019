"""`homecat split`: no participant in two splits, assignments that never move, removals reported."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from homecat.catalog import Catalog
from homecat.cli import app
from homecat.reports import run_report
from homecat.scan import scan
from homecat.split import assign_splits, write_split_exports
from tests.catalog_helpers import add_error_finding, demo_catalog, scan_and_validate
from tests.conftest import write_tone


def _assignment(catalog: Catalog) -> dict[str, tuple[str, str]]:
    rows = catalog.con.execute("SELECT recording_id, participant_id, split FROM splits").fetchall()
    return {rid: (pid, split) for rid, pid, split in rows}


def _report(catalog: Catalog) -> dict[str, dict]:
    columns, rows, _ = run_report(catalog, "splits")
    return {row[0]: dict(zip(columns, row)) for row in rows}


def _tree(root, participants: range, files_per: int = 2, seconds: float = 2.0, tag: str = "a"):
    for p in participants:
        for f in range(files_per):
            write_tone(root / f"P{p:02d}" / f"P{p:02d}_{tag}{f}.wav", seconds + 0.25 * (p % 4))


def test_demo_corpus_splits_by_participant_without_leakage(tmp_path, settings_for):
    settings, _ = demo_catalog(tmp_path, settings_for)
    with Catalog.open(settings.paths.catalog) as catalog:
        summary = assign_splits(catalog, settings.split)
        assignment = _assignment(catalog)
        report = _report(catalog)

    by_participant: dict[str, set[str]] = {}
    for pid, split in assignment.values():
        if pid != "unknown":
            by_participant.setdefault(pid, set()).add(split)
    assert all(len(splits) == 1 for splits in by_participant.values())
    assert report["all"]["leaked_participants"] == 0
    assert report["dev"]["recordings"] >= 1 and report["train"]["recordings"] >= 1
    # error findings (silent, too short) and unreadable files are in no split
    assert not {"P03_silence", "P04_short", "empty", "notes"} & set(assignment)
    assert summary.excluded == {"error finding": 2, "unreadable": 2} and summary.unvalidated == 0
    assert summary.placed_groups == 5 and summary.kept == 0


def test_unvalidated_recordings_wait_for_validate_and_the_summary_says_so(tmp_path, settings_for, small_tree):
    settings = settings_for(small_tree)
    with Catalog.open(settings.paths.catalog) as catalog:
        scan(catalog, settings.data)
        summary = assign_splits(catalog, settings.split)
        assert catalog.con.execute("SELECT count(*) FROM splits").fetchone()[0] == 0
    assert summary.unvalidated == 5
    assert any("run 'homecat validate'" in note for note in summary.notes())


def test_existing_assignments_never_move_as_participants_and_recordings_arrive(tmp_path, settings_for):
    root = tmp_path / "raw"
    _tree(root, range(12))
    write_tone(root / "loose.wav", 2.0)
    settings = settings_for(root)
    scan_and_validate(settings)
    with Catalog.open(settings.paths.catalog) as catalog:
        assign_splits(catalog, settings.split)
        first = _assignment(catalog)
    assert {s for _, s in first.values()} == {"train", "dev"}

    # more recordings of known participants, new participants, another loose file
    _tree(root, range(0, 12, 3), files_per=1, tag="b")
    _tree(root, range(12, 30))
    write_tone(root / "loose2.wav", 2.0)
    scan_and_validate(settings)
    with Catalog.open(settings.paths.catalog) as catalog:
        summary = assign_splits(catalog, settings.split)
        second = _assignment(catalog)
        report = _report(catalog)

    assert {rid: second[rid] for rid in first} == first  # nobody moved
    split_of = {pid: split for pid, split in first.values() if pid != "unknown"}
    for p in range(0, 12, 3):
        assert second[f"P{p:02d}_b0"][1] == split_of[f"P{p:02d}"]
    assert summary.kept == len(first) and summary.joined_participant == 4
    assert summary.placed_groups == 19 and report["all"]["leaked_participants"] == 0
    assert report["dev"]["share_of_hours"] == pytest.approx(0.1, abs=0.05)


def test_the_same_tree_and_seed_give_the_same_splits_and_seeds_differ(tmp_path, settings_for):
    root = tmp_path / "raw"
    _tree(root, range(20), files_per=1)
    results = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        settings = settings_for(root, **{"paths.catalog": tmp_path / f"{name}.duckdb", "split.split_seed": seed})
        scan_and_validate(settings)
        with Catalog.open(settings.paths.catalog) as catalog:
            assign_splits(catalog, settings.split)
            results.append(_assignment(catalog))
    assert results[0] == results[1]
    assert results[0] != results[2]


def test_a_recording_with_a_new_error_finding_or_gone_missing_leaves_its_split(tmp_path, settings_for):
    root = tmp_path / "raw"
    _tree(root, range(6))
    settings = settings_for(root)
    scan_and_validate(settings)
    with Catalog.open(settings.paths.catalog) as catalog:
        assign_splits(catalog, settings.split)
        before = _assignment(catalog)
        add_error_finding(catalog, "P01_a0")
    (root / "P02" / "P02_a1.wav").unlink()
    with Catalog.open(settings.paths.catalog) as catalog:
        scan(catalog, settings.data)
        summary = assign_splits(catalog, settings.split)
        after = _assignment(catalog)
        removals = catalog.con.execute("SELECT recording_id, split, reason FROM split_removals ORDER BY 1").fetchall()
        report = _report(catalog)
    assert set(before) - set(after) == {"P01_a0", "P02_a1"}
    assert removals == [
        ("P01_a0", before["P01_a0"][1], "error finding: truncated"),
        ("P02_a1", before["P02_a1"][1], "missing"),
    ]
    assert summary.removed == {"error finding": 1, "missing": 1}
    assert any("left their split" in note for note in summary.notes())
    assert report["left the splits"]["recordings"] == 2
    assert {rid: after[rid] for rid in after} == {rid: before[rid] for rid in after}


def test_a_participant_whose_recordings_all_left_comes_back_to_its_split(tmp_path, settings_for):
    root = tmp_path / "raw"
    _tree(root, range(6), files_per=1)
    settings = settings_for(root)
    scan_and_validate(settings)
    with Catalog.open(settings.paths.catalog) as catalog:
        assign_splits(catalog, settings.split)
        split = _assignment(catalog)["P03_a0"][1]
        add_error_finding(catalog, "P03_a0")
        assign_splits(catalog, settings.split)
        assert "P03_a0" not in _assignment(catalog)
    write_tone(root / "P03" / "P03_new.wav", 3.0)
    scan_and_validate(settings)
    with Catalog.open(settings.paths.catalog) as catalog:
        summary = assign_splits(catalog, settings.split)
        assert _assignment(catalog)["P03_new"] == ("P03", split)
    assert summary.joined_participant == 1 and summary.placed_groups == 0


def test_exports_and_the_cli_reshuffle_asks_first(tmp_path, settings_for):
    settings, _ = demo_catalog(tmp_path, settings_for)
    runner = CliRunner()
    catalog_arg = ["--catalog", str(settings.paths.catalog)]
    out_dir = tmp_path / "exports"
    result = runner.invoke(app, [*catalog_arg, "split", "-f", "json"], env={})
    assert result.exit_code == 0, result.output
    rows = {r["what"]: r["count"] for r in json.loads(result.stdout)}
    assert rows["new families or participants placed"] == 5
    result = runner.invoke(app, [*catalog_arg, "export", str(out_dir)], env={})
    assert result.exit_code == 0, result.output
    assert {"dev_split.parquet", "split_summary.json", "train_split.parquet"} <= {p.name for p in out_dir.iterdir()}
    train = pq.read_table(out_dir / "train_split.parquet").to_pylist()
    dev = pq.read_table(out_dir / "dev_split.parquet").to_pylist()
    assert train and dev and {r["participant_id"] for r in train}.isdisjoint({r["participant_id"] for r in dev})
    summary = json.loads((out_dir / "split_summary.json").read_text())
    assert {r["split"]: r["leaked_participants"] for r in summary["rows"]}["all"] == 0

    result = runner.invoke(app, [*catalog_arg, "report", "splits", "-f", "json"], env={})
    assert {r["split"] for r in json.loads(result.stdout)} == {"train", "dev", "all", "left the splits"}

    result = runner.invoke(app, [*catalog_arg, "split", "--reshuffle"], input="n\n", env={})
    assert result.exit_code == 1 and "Aborted" in result.output
    result = runner.invoke(app, [*catalog_arg, "split", "--reshuffle", "--yes", "--seed", "3", "-f", "json"], env={})
    assert result.exit_code == 0, result.output
    assert {r["what"]: r["count"] for r in json.loads(result.stdout)}["kept in their split"] == 0
    with Catalog.open(settings.paths.catalog) as catalog:
        assert catalog.con.execute("SELECT DISTINCT seed FROM splits").fetchall() == [(3,)]


def test_write_split_exports_on_an_empty_split_table_writes_empty_files(tmp_path, settings_for):
    settings = settings_for(None)
    with Catalog.open(settings.paths.catalog) as catalog:
        written = write_split_exports(catalog, tmp_path / "x")
    assert [p.name for p in written] == ["train_split.parquet", "dev_split.parquet", "split_summary.json"]
    assert pq.read_table(written[0]).num_rows == 0
