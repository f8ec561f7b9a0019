"""A lab's own corpus as it is kept: FAMILY/CHILD/DATE.wav, twins, a copied file; no ChildProject, no LENA.

Ages from the file names' dates and the participants' dates of birth, siblings on one side of every split,
a recordings table for dates the paths lack (real audio, real catalogs)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from homecat.catalog import Catalog
from homecat.cli import app
from homecat.crop_snapshot import build_crop_index
from homecat.errors import HomecatError
from homecat.participants import import_participants
from homecat.recording_dates import import_recordings, parse_date, parse_time
from homecat.reports import run_report
from homecat.scan import participant_of, scan
from homecat.split import MOVED_TO_FAMILY, assign_splits
from homecat.validate import validate
from tests.catalog_helpers import scan_and_validate
from tests.conftest import write_tone

runner = CliRunner()
FAMILY_REGEX = r"^(?P<participant>(?P<family>[^/]+)/[^/]+)/"
CHILD_REGEX = r"^(?P<participant>[^/]+/[^/]+)/"  # the same children, no family


def invoke(catalog_path: Path, *args: str):
    return runner.invoke(app, ["--catalog", str(catalog_path), *args], env={}, catch_exceptions=False)


def lab_corpus(root: Path) -> Path:
    """Four families, twins in FAM02, one undated file, and FAM04's recording copied beside itself."""
    files = {
        "FAM01/child1/2024-01-10.wav": 220.0,
        "FAM01/child1/2024-07-10.wav": 230.0,
        "FAM02/twinA/2024-02-01.wav": 240.0,
        "FAM02/twinB/2024-02-01.wav": 250.0,
        "FAM03/child1/20240115_093000.wav": 260.0,
        "FAM03/child1/evening.wav": 270.0,
        "FAM04/child1/2024-03-05.wav": 280.0,
    }
    for rel_path, freq in files.items():
        write_tone(root / rel_path, 2.5, sample_rate=8000, freq_hz=freq)
    shutil.copy(root / "FAM04/child1/2024-03-05.wav", root / "FAM04/child1/2024-03-05_copy.wav")
    return root


def children_csv(path: Path) -> Path:
    """The lab's table: its own column names, two lines for the twins of FAM02."""
    path.write_text(
        "kid,birth,fam\n"
        "FAM01/child1,2023-07-10,FAM01\n"
        "FAM02/twinA,2023-01-20,FAM02\n"
        "FAM02/twinB,2023-01-20,FAM02\n"
        "FAM03/child1,2020-12-15,FAM03\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def lab(tmp_path, settings_for):
    root = lab_corpus(tmp_path / "raw")
    overrides = {"data.participant_regex": FAMILY_REGEX, "split.dev_fraction": 0.3, "data.hash_audio": True}
    settings = settings_for(root, **overrides)
    scan_and_validate(settings)
    return settings


def test_dates_in_file_names_give_ages_by_band_and_say_why_others_have_none(lab, tmp_path):
    with Catalog.open(lab.paths.catalog) as catalog:
        result = import_participants(
            catalog, children_csv(tmp_path / "children.csv"),
            ["participant=kid", "dob=birth", "family=fam"],
        )  # fmt: skip
        assert (result.participants, result.with_age) == (4, 4)
        _, rows = catalog.rows(
            "SELECT r.rel_path, d.date_iso::VARCHAR, d.start_time, g.age_band, g.family_id, g.age_missing_because "
            "FROM recordings r JOIN recording_date d USING (recording_id) JOIN recording_ages g USING (recording_id) "
            "ORDER BY r.rel_path"
        )
        assert rows == [
            ("FAM01/child1/2024-01-10.wav", "2024-01-10", None, "06-12 months", "FAM01", None),
            ("FAM01/child1/2024-07-10.wav", "2024-07-10", None, "12-18 months", "FAM01", None),
            ("FAM02/twinA/2024-02-01.wav", "2024-02-01", None, "12-18 months", "FAM02", None),
            ("FAM02/twinB/2024-02-01.wav", "2024-02-01", None, "12-18 months", "FAM02", None),
            ("FAM03/child1/20240115_093000.wav", "2024-01-15", "09:30:00", "36+ months", "FAM03", None),
            ("FAM03/child1/evening.wav", None, None, None, "FAM03",
             "no recording date (path or recordings import)"),
            ("FAM04/child1/2024-03-05.wav", "2024-03-05", None, None, "FAM04",
             "participant not imported (participants import)"),
            ("FAM04/child1/2024-03-05_copy.wav", "2024-03-05", None, None, "FAM04",
             "participant not imported (participants import)"),
        ]  # fmt: skip
        columns, rows, _ = run_report(catalog, "summary")
        summary = [dict(zip(columns, row)) for row in rows]
        assert {(r["value"], r["files"]) for r in summary if r["dimension"] == "age_band"} == {
            ("06-12 months", 1), ("12-18 months", 3), ("36+ months", 1),
        }  # fmt: skip
        assert {(r["value"], r["files"]) for r in summary if r["dimension"] == "no_age"} == {
            ("no recording date (path or recordings import)", 1),
            ("participant not imported (participants import)", 2),
        }
        # a recordings table dates what the path does not (and wins over it); a wrong child is refused
        table = tmp_path / "recordings.tsv"
        table.write_text("file\tday\tdevice\nevening.wav\t2024-01-16\tLENA\n", encoding="utf-8")
        got = import_recordings(catalog, table, ["recording=file", "date=day"])
        assert (got.recordings, got.dated, got.unknown) == (1, 1, 0)
        _, rows = catalog.rows(
            "SELECT g.age_band, d.device FROM recording_ages g JOIN recording_date d USING (recording_id) "
            "JOIN recordings r USING (recording_id) WHERE r.rel_path = 'FAM03/child1/evening.wav'"
        )
        assert rows == [("36+ months", "LENA")]
        bad = tmp_path / "bad.csv"
        bad.write_text("recording,date,child_id\nevening.wav,2024-13-01,FAM01/child1\n", encoding="utf-8")
        with pytest.raises(HomecatError) as caught:
            import_recordings(catalog, bad)
        assert caught.value.lines[1] == (
            "bad.csv: line 2: date '2024-13-01' is not a date (YYYY-MM-DD); child 'FAM01/child1' is not the "
            "recording's participant 'FAM03/child1' (from data.participant_regex)."
        )


def test_siblings_refused_without_a_family_column_name_the_fix(tmp_path, lab):
    table = tmp_path / "families.csv"
    table.write_text("child_id,dob\nFAM02,2023-02-01\nFAM02,2023-02-01\n", encoding="utf-8")
    with Catalog.open(lab.paths.catalog) as catalog, pytest.raises(HomecatError) as caught:
        import_participants(catalog, table)
    assert caught.value.lines[1] == (
        "families.csv: line 3: participant 'FAM02' is also on line 2 "
        "(siblings: one line per child, with a family column)."
    )


def test_twins_and_siblings_stay_on_one_side_of_the_split(lab, tmp_path):
    with Catalog.open(lab.paths.catalog) as catalog:
        for seed in range(6):
            assign_splits(catalog, lab.split.model_copy(update={"split_seed": seed}), reshuffle=True)
            _, rows = catalog.rows(
                "SELECT g.family_id, count(DISTINCT s.split) FROM splits s JOIN recording_groups g USING "
                "(recording_id) GROUP BY 1 HAVING count(DISTINCT s.split) > 1"
            )
            assert rows == []
            columns, rows, _ = run_report(catalog, "splits")
            assert dict(zip(columns, rows[-2]))["leaked_participants"] == 0  # the 'all' row
    listed = json.loads(invoke(lab.paths.catalog, "sql", "-f", "json", "SELECT * FROM recording_groups").stdout)
    assert {r["group_key"] for r in listed} == {"family:FAM01", "family:FAM02", "family:FAM03", "family:FAM04"}


def test_a_family_learnt_after_the_split_joins_the_split_of_most_of_its_hours(tmp_path, settings_for):
    root = lab_corpus(tmp_path / "raw")
    settings = settings_for(root, **{"data.participant_regex": CHILD_REGEX, "split.dev_fraction": 0.3})
    scan_and_validate(settings)
    with Catalog.open(settings.paths.catalog) as catalog:
        for seed in range(50):  # a seed that puts the twins apart while nobody knows they are twins
            assign_splits(catalog, settings.split.model_copy(update={"split_seed": seed}), reshuffle=True)
            _, rows = catalog.rows("SELECT count(DISTINCT split) FROM splits WHERE participant_id LIKE 'FAM02/%'")
            if rows[0][0] == 2:
                break
        else:
            pytest.fail("no seed of 50 put the twins apart")
        _, before = catalog.rows("SELECT recording_id, split FROM splits ORDER BY 1")
        import_participants(catalog, children_csv(tmp_path / "c.csv"), ["participant=kid", "family=fam"])
        summary = assign_splits(catalog, settings.split.model_copy(update={"split_seed": seed}))
        assert summary.removed == {MOVED_TO_FAMILY: 1}
        _, after = catalog.rows("SELECT recording_id, split FROM splits ORDER BY 1")
        moved = [(b, a) for b, a in zip(before, after) if b != a]
        assert len(moved) == 1 and moved[0][0][0].startswith("2024-02-01")  # one twin moved, nobody else
        columns, rows, _ = run_report(catalog, "splits")
        assert dict(zip(columns, rows[-2]))["leaked_participants"] == 0


def test_dates_and_times_as_labs_write_them():
    assert [str(parse_date(t)) for t in ("2024-01-10", "20240110", "2024_01_10", "10/01/2024")] == ["2024-01-10"] * 4
    assert parse_date("2024-0110") is None and parse_date("2024-02-30") is None
    assert parse_date("2024-13-01") is None
    assert [parse_time(t) for t in ("13:05", "130520", "13-05-20", "13h05", "25:00")] == [
        "13:05:00", "13:05:20", "13:05:20", "13:05:00", None,
    ]  # fmt: skip


def test_the_lab_tables_through_the_command_line(lab, tmp_path):
    catalog = lab.paths.catalog
    kids = children_csv(tmp_path / "kids.csv")
    args = ["--column", "participant=kid", "--column", "dob=birth", "--column", "family=fam"]
    result = invoke(catalog, "participants", "import", str(kids), *args, "-f", "json")
    assert result.exit_code == 0, result.output
    assert [r["count"] for r in json.loads(result.stdout)] == [4, 4, 0]
    sessions = tmp_path / "sessions.csv"
    sessions.write_text("file,date\nFAM03/child1/evening.wav,2024-01-16\nnot-here.wav,2024-01-01\n", encoding="utf-8")
    result = invoke(catalog, "recordings", "import", str(sessions), "--column", "recording=file", "-f", "json")
    assert [r["count"] for r in json.loads(result.stdout)] == [1, 1, 1]
    result = invoke(catalog, "participants", "import", str(kids), "--column", "child=kid")
    assert result.exit_code == 1
    assert "--column 'child=kid' must be KEY=COLUMN with KEY one of participant, dob" in result.stderr
    assert invoke(catalog, "split").exit_code == 0
    families = json.loads(invoke(catalog, "report", "splits", "--families", "-f", "json").stdout)
    assert sorted(r["family_id"] for r in families) == ["FAM01", "FAM02", "FAM03", "FAM04"]
    assert next(r for r in families if r["family_id"] == "FAM02")["children"] == 2
    table = invoke(catalog, "report", "splits").stdout
    assert "families per split" in table and "FAM02" in table


def test_of_two_exact_copies_the_first_by_path_trains_and_the_other_is_excluded_with_its_finding(lab):
    copy, kept = "FAM04/child1/2024-03-05_copy.wav", "FAM04/child1/2024-03-05.wav"
    findings = json.loads(invoke(lab.paths.catalog, "report", "findings", "-f", "json").stdout)
    both = sorted((f["rel_path"], f["code"], f["severity"], f["message"]) for f in findings if "duplicate" in f["code"])
    assert both == [  # the copy is named after its original, so the original comes first by path
        (kept, "duplicate_kept", "info", f"{kept} trains; its exact copy {copy} is excluded "
         "(validate.duplicate_rule first-by-path)."),
        (copy, "exact_duplicate", "error", f"{copy} is an exact copy of {kept} (same SHA-1): only {kept} trains "
         "(validate.duplicate_rule first-by-path)."),
    ]  # fmt: skip
    with Catalog.open(lab.paths.catalog) as catalog:
        summary = assign_splits(catalog, lab.split)
        assert summary.excluded == {"error finding": 1}
        index = build_crop_index(catalog, ("train", "dev"), crop_sec=1.0)
        assert copy not in set(index.rel_path.tolist()) and kept in set(index.rel_path.tolist())


def test_keep_all_trains_every_copy_with_a_warning(lab):
    settings = lab.model_copy(update={"validate": lab.validate.model_copy(update={"duplicate_rule": "keep-all"})})
    with Catalog.open(settings.paths.catalog) as catalog:
        validate(catalog, settings.validate, settings.data, workers=1)
        _, rows = catalog.rows(
            "SELECT code, severity FROM findings WHERE code IN ('duplicate', 'exact_duplicate', 'duplicate_kept')"
        )
        assert rows == [("duplicate", "warning")]
        assert assign_splits(catalog, settings.split).excluded == {}


def test_without_its_config_a_command_names_the_config_not_a_missing_scan(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_tone(tmp_path / "raw" / "P1" / "a.wav", 2.5)
    (tmp_path / "my.yaml").write_text("paths:\n  catalog: mine/c.duckdb\ndata:\n  raw_audio_root: raw\n")
    assert runner.invoke(app, ["--config", "my.yaml", "scan"], env={}).exit_code == 0
    result = runner.invoke(app, ["report", "summary"], env={})
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: There is no catalog at catalog/homecat.duckdb, the default: no --config, --catalog or "
        "HOMECAT_CATALOG was given; my.yaml in this folder names an existing catalog: pass --config my.yaml.\n"
    )
    result = runner.invoke(app, ["--catalog", "other.duckdb", "report", "summary"], env={})
    assert result.stderr == (
        "Error: There is no catalog at other.duckdb (from command line): run 'homecat scan' first, "
        "or check that setting.\n"
    )


def test_status_says_what_the_catalog_holds_and_what_comes_next(tmp_path, settings_for):
    root = lab_corpus(tmp_path / "raw")
    settings = settings_for(root, **{"data.participant_regex": FAMILY_REGEX, "data.hash_audio": True})
    catalog = settings.paths.catalog

    def status() -> dict[str, str]:
        result = invoke(catalog, "--config", str(config), "status", "-f", "json")
        assert result.exit_code == 0, result.output
        return {r["what"]: r["state"] for r in json.loads(result.stdout)}

    config = tmp_path / "lab.yaml"
    config.write_text(f"data:\n  participant_regex: '{FAMILY_REGEX}'\n  hash_audio: true\n", encoding="utf-8")
    assert invoke(catalog, "--config", str(config), "scan", "--root", str(root)).exit_code == 0
    first = status()
    assert first["recordings"] == "8 (8 readable, 0 unreadable, 0 missing); 0.006 h readable"
    assert first["next"] == "homecat validate (8 readable recording(s) not validated)"
    scan_and_validate(settings)
    validated = status()
    assert validated["validated"] == "8 of 8 readable; 7 usable (no error finding)"  # the copy is excluded
    assert validated["findings"].startswith("1 error,")
    assert validated["next"] == "homecat split (7 usable recording(s) in no split)"
    assert invoke(catalog, "--config", str(config), "split").exit_code == 0
    placed = status()
    assert placed["splits"].endswith("; 0 usable not in a split") and placed["training runs"] == "0"
    assert placed["next"] == "homecat crops preview, then accelerate launch -m homecat.train --config YOUR.yaml"
    config.write_text(config.read_text() + "crops:\n  crop_policy: speech\n", encoding="utf-8")
    assert status()["next"] == "homecat vad (7 usable recording(s) without speech; crops.crop_policy needs it)"


def test_a_family_group_beside_the_child_names_the_child_within_its_family():
    pattern = re.compile(r"^(?P<family>[^/]+)/(?P<participant>[^/]+)/")
    assert participant_of("FAM01/child1/2024-01-10.wav", pattern) == "FAM01/child1"
    assert participant_of("FAM03/child1/2024-01-10.wav", pattern) == "FAM03/child1"
    assert participant_of("FAM03/FAM03_c2/2024-01-10.wav", pattern) == "FAM03_c2"  # already named within it
    assert participant_of("FAM03/child1/x.wav", re.compile(FAMILY_REGEX)) == "FAM03/child1"


def test_a_childproject_family_column_groups_siblings(tmp_path, settings_for):
    from tests.test_childproject import CHILDREN, _write_csv, write_dataset

    dataset = write_dataset(tmp_path / "dataset")
    siblings = [{**row, "family_id": "F1" if row["child_id"] in ("C01", "C02") else "NA"} for row in CHILDREN]
    _write_csv(dataset / "metadata" / "children.csv", siblings)
    settings = settings_for(None, **{"data.childproject_root": dataset})
    with Catalog.open(settings.paths.catalog) as catalog:
        scan(catalog, settings.data)
        _, rows = catalog.rows(
            "SELECT DISTINCT participant_id, family_id, group_key FROM recording_groups "
            "WHERE participant_id <> 'unknown' ORDER BY 1"
        )
    assert rows == [("C01", "F1", "family:F1"), ("C02", "F1", "family:F1"), ("C03", None, "C03")]


def test_report_participants_names_the_family_and_why_an_age_is_missing(lab, tmp_path):
    with Catalog.open(lab.paths.catalog) as catalog:
        import_participants(catalog, children_csv(tmp_path / "c.csv"), ["participant=kid", "dob=birth", "family=fam"])
        columns, rows, _ = run_report(catalog, "participants")
    report = {r["participant_id"]: r for r in (dict(zip(columns, row)) for row in rows)}
    assert (report["FAM02/twinA"]["family_id"], report["FAM02/twinA"]["age_months_min"]) == ("FAM02", 12.4)
    assert report["FAM03/child1"]["no_age_because"] == "no recording date (path or recordings import)"
    assert report["FAM04/child1"]["no_age_because"] == "participant not imported (participants import)"
    assert report["FAM01/child1"]["no_age_because"] is None


def test_paths_are_read_again_when_the_regexes_change_and_only_new_files_otherwise(tmp_path, settings_for):
    root = lab_corpus(tmp_path / "raw")

    def dated(**overrides) -> tuple[int, int]:
        settings = settings_for(root, **overrides)
        with Catalog.open(settings.paths.catalog) as catalog:
            scan(catalog, settings.data)
            _, rows = catalog.rows("SELECT count(date_iso), count(family_id) FROM recording_date JOIN recording_groups "
                                   "USING (recording_id)")  # fmt: skip
        return rows[0]

    settings = settings_for(root)
    settings.data.recording_date_regex = None  # an override of None means "not given"
    with Catalog.open(settings.paths.catalog) as catalog:
        scan(catalog, settings.data)
        assert catalog.rows("SELECT count(date_iso) FROM recording_date")[1] == [(0,)]
    assert dated(**{"data.participant_regex": CHILD_REGEX}) == (7, 0)
    assert dated(**{"data.participant_regex": FAMILY_REGEX}) == (7, 8)
    write_tone(root / "FAM05/child1/2024-05-05.wav", 2.5, sample_rate=8000)
    assert dated(**{"data.participant_regex": FAMILY_REGEX}) == (8, 9)
