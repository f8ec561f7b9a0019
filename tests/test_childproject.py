"""ChildProject datasets read as they are: recordings and children from the metadata, annotation sets.

The fixture is a small dataset written in the ChildProject format (metadata CSVs, real audio under
recordings/raw/, a git-annex link whose content is absent, a file no row lists).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from homecat import audio
from homecat.catalog import Catalog
from homecat.childproject import MetadataError, import_segments, import_speech, read_metadata, scan_dataset
from homecat.cli import app
from homecat.errors import HomecatError
from homecat.reports import run_report
from homecat.scan import scan
from homecat.validate import validate
from tests.conftest import write_tone

CHILDREN = [
    {"experiment": "test", "child_id": "C01", "child_dob": "2020-01-01", "child_sex": "f"},
    {"experiment": "test", "child_id": "C02", "child_dob": "2019-06-15", "child_sex": "m"},
    {"experiment": "test", "child_id": "C03", "child_dob": "NA", "child_sex": "m"},
]
RECORDINGS = [
    # recording_filename, child, date_iso, start_time, discard
    ("C01/rec1.wav", "C01", "2020-04-20", "09:30", "0"),
    ("C01/rec2.wav", "C01", "2020-09-01", "10:00:05", ""),
    ("C02/rec3.wav", "C02", "2020-07-01", "NA", "0"),
    ("C01/gone.wav", "C01", "2020-05-01", "08:00", "0"),  # listed, absent
    ("C02/annexed.wav", "C02", "2020-08-01", "08:00", "0"),  # git-annex link, content not fetched
    ("C02/old.wav", "C02", "2020-02-01", "08:00", "1"),  # discarded
    ("rec4.wav", "C03", "NA", "NA", "0"),  # child's age unknown
]
PRESENT = {"C01/rec1.wav": 3.0, "C01/rec2.wav": 2.0, "C02/rec3.wav": 2.5, "C02/old.wav": 2.0, "rec4.wav": 2.0}


def _write_csv(path: Path, rows: list[dict], columns: list[str] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = columns or list(rows[0])
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def _recording_rows() -> list[dict]:
    return [
        {
            "experiment": "test",
            "child_id": child,
            "date_iso": when,
            "start_time": start,
            "recording_device_type": "usb",
            "recording_filename": name,
            "session_id": f"{child}-{when}",
            "discard": discard,
        }
        for name, child, when, start, discard in RECORDINGS
    ]


def _annex_target(dataset: Path) -> Path:
    return dataset / ".git" / "annex" / "objects" / "Xx" / "Yy" / "SHA256E-s1--ab.wav" / "SHA256E-s1--ab.wav"


def write_dataset(root: Path) -> Path:
    """A ChildProject dataset: 5 present recordings (one discarded), one absent, one not fetched, one unreferenced."""
    _write_csv(root / "metadata" / "children.csv", CHILDREN)
    _write_csv(root / "metadata" / "recordings.csv", _recording_rows())
    raw = root / "recordings" / "raw"
    for name, seconds in PRESENT.items():
        write_tone(raw / name, seconds)
    link = raw / "C02" / "annexed.wav"
    link.symlink_to(os.path.relpath(_annex_target(root), link.parent))  # what `datalad clone` leaves
    write_tone(raw / "extra" / "stray.wav", 2.0)  # listed by no row
    return root


@pytest.fixture
def dataset(tmp_path) -> Path:
    return write_dataset(tmp_path / "dataset")


SEGMENT_COLUMNS = ["raw_filename", "segment_onset", "segment_offset", "speaker_id", "speaker_type", "vcm_type"]
# (annotation set, recording_filename, range_onset, range_offset, annotation_filename, segments), times in ms
ANNOTATIONS = [
    (
        "vtc",
        "C01/rec1.wav",
        0,
        3000,
        "C01/rec1_0_3000.csv",
        [(100, 900, "CHI", "C"), (1000, 1500, "FEM", "NA"), (1400, 2000, "", ""), (2500, 3500, "MAL", "")],
    ),
    ("vtc", "C02/rec3.wav", 0, 2500, "C02/rec3_0_2500.csv", [(0, 1250, "SPEECH", ""), (1200, 2400, "OCH", "N")]),
    ("vtc", "C02/old.wav", 0, 2000, "C02/old_0_2000.csv", [(0, 1000, "CHI", "")]),  # discarded recording
    ("vtc", "C01/gone.wav", 0, 2000, "C01/gone_0_2000.csv", [(0, 1000, "CHI", "")]),  # absent recording
    ("vtc", "rec4.wav", 0, 2000, "", []),  # ChildProject failed to convert it
    (
        "eaf",
        "C01/rec1.wav",
        1000,
        2000,
        "C01/rec1_1000_2000.csv",
        [(500, 1200, "FEM", ""), (1500, 1800, "CHI", "C"), (2500, 2700, "CHI", "N")],
    ),
]


def write_annotations(dataset: Path, annotations: list[tuple] = ANNOTATIONS) -> None:
    """metadata/annotations.csv and the converted CSVs of two sets, as ChildProject's importer writes them."""
    index = []
    for set_name, recording, onset, offset, converted, segments in annotations:
        index.append(
            {
                "set": set_name,
                "recording_filename": recording,
                "time_seek": 0,
                "range_onset": onset,
                "range_offset": offset,
                "raw_filename": Path(recording).with_suffix(".rttm").as_posix(),
                "format": "vtc_rttm" if set_name == "vtc" else "eaf",
                "filter": "",
                "annotation_filename": converted,
                "imported_at": "2024-01-02 10:00:00",
                "package_version": "0.4.6",
                "error": "" if converted else "conversion failed",
                "merged_from": "",
            }
        )
        if converted:
            rows = [
                dict(
                    zip(
                        SEGMENT_COLUMNS,
                        [Path(recording).with_suffix(".rttm").as_posix(), *segment[:2], "", *segment[2:]],
                    )
                )
                for segment in segments
            ]
            _write_csv(dataset / "annotations" / set_name / "converted" / converted, rows, SEGMENT_COLUMNS)
    _write_csv(dataset / "metadata" / "annotations.csv", index)


@pytest.fixture
def count_opens(monkeypatch):
    """Counts header reads (the only way scan opens audio) while still reading for real."""
    opened: list[str] = []
    real = audio.read_header

    def counting(path):
        opened.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(audio, "read_header", counting)
    return opened


def _recordings(catalog: Catalog) -> dict[str, dict]:
    columns, rows = catalog.rows("SELECT * FROM recordings ORDER BY rel_path")
    return {row[0]: dict(zip(columns, row)) for row in rows}


def _findings(catalog: Catalog) -> dict[str, tuple[str, str, str]]:
    rows = catalog.con.execute("SELECT recording_id, code, severity, message FROM findings WHERE stage = 'scan'")
    return {r[0]: r[1:] for r in rows.fetchall()}


def test_a_dataset_is_catalogued_from_its_metadata(dataset, settings_for):
    settings = settings_for(None, **{"data.childproject_root": dataset})
    with Catalog.open(settings.paths.catalog) as catalog:
        summary = scan(catalog, settings.data)  # the setting alone makes it a ChildProject scan
        rows = _recordings(catalog)
        meta = {r[0]: r[1:] for r in catalog.con.execute("SELECT * FROM recording_meta").fetchall()}
        findings = _findings(catalog)

    assert sorted(rows) == [
        "C01/gone.wav",
        "C01/rec1.wav",
        "C01/rec2.wav",
        "C02/annexed.wav",
        "C02/rec3.wav",
        "rec4.wav",
    ]
    assert {p: (r["participant_id"], r["status"]) for p, r in rows.items()} == {
        "C01/gone.wav": ("C01", "missing"),
        "C01/rec1.wav": ("C01", "ok"),
        "C01/rec2.wav": ("C01", "ok"),
        "C02/annexed.wav": ("C02", "missing"),
        "C02/rec3.wav": ("C02", "ok"),
        "rec4.wav": ("C03", "ok"),
    }
    assert rows["C01/rec1.wav"]["duration_sec"] == pytest.approx(3.0)
    assert rows["C01/rec1.wav"]["path"] == str(dataset.resolve() / "recordings/raw/C01/rec1.wav")

    rec1 = meta["rec1"]
    assert rec1[:8] == (
        "C01/rec1.wav",
        "test",
        "C01",
        __import__("datetime").date(2020, 4, 20),
        "09:30",
        "usb",
        "C01-2020-04-20",
        __import__("datetime").date(2020, 1, 1),
    )
    assert rec1[8] == pytest.approx(110 / (365.25 / 12))  # 110 days, as ChildProject computes months
    assert meta["rec3"][4] is None and meta["rec4"][3] is None and meta["rec4"][8] is None  # NA: not known
    assert "old" not in meta  # discarded

    counts = {r["what"]: r["count"] for r in summary.rows()}
    assert counts["listed recordings (metadata/recordings.csv)"] == 6
    assert counts["discarded rows (discard = 1, skipped)"] == 1
    assert counts["listed but absent (missing)"] == 1
    assert counts["listed but not fetched (git-annex; see report findings)"] == 1
    assert counts["unreferenced audio files (not catalogued)"] == 1
    assert (counts["usable recordings"], counts["participants"], counts["new files"]) == (4, 3, 4)

    assert findings["gone"][:2] == ("missing", "error")
    assert "recordings/raw/C01/gone.wav is listed in metadata/recordings.csv (line 5)" in findings["gone"][2]
    code, severity, message = findings["annexed"]
    assert (code, severity) == ("not_fetched", "error")
    assert "datalad get recordings/raw/C02/annexed.wav" in message and "git annex get" in message
    assert findings["unreferenced:extra/stray.wav"][:2] == ("unreferenced", "warning")
    assert "recordings/raw/extra/stray.wav" in findings["unreferenced:extra/stray.wav"][2]


def test_rescan_opens_no_audio_and_follows_fetches_discards_and_fixes(dataset, settings_for, count_opens):
    settings = settings_for(None)
    with Catalog.open(settings.paths.catalog) as catalog:
        scan_dataset(catalog, settings.data, dataset)
        assert sorted(count_opens) == ["rec1.wav", "rec2.wav", "rec3.wav", "rec4.wav"]
        count_opens.clear()

        summary = scan_dataset(catalog, settings.data, dataset)
        assert count_opens == []
        assert (summary.new, summary.changed, summary.unchanged) == (0, 0, 4)
        assert catalog.con.execute("SELECT count(*) FROM recording_meta").fetchone()[0] == 6  # kept as it was

        # `datalad get` brings the content: the link now resolves, the file is read, its finding goes.
        write_tone(_annex_target(dataset), 2.0)
        # The metadata discards rec2 and moves rec3 to another child; nothing else changes.
        rows = _recording_rows()
        rows[1]["discard"] = "1"
        rows[2]["child_id"] = "C01"
        _write_csv(dataset / "metadata" / "recordings.csv", rows)
        summary = scan_dataset(catalog, settings.data, dataset)
        assert count_opens == ["annexed.wav"]
        recordings = _recordings(catalog)
        findings = _findings(catalog)
    assert recordings["C02/annexed.wav"]["status"] == "ok"
    assert recordings["C02/annexed.wav"]["recording_id"] == "annexed"  # the id given while it was absent
    assert "annexed" not in findings
    assert recordings["C01/rec2.wav"]["status"] == "missing"  # kept, history and all
    assert findings["rec2"][:2] == ("discarded", "info")
    assert recordings["C02/rec3.wav"]["participant_id"] == "C01"
    assert summary.participants == 3


def test_malformed_metadata_is_refused_whole_naming_file_line_and_column(dataset, settings_for):
    settings = settings_for(None)
    with Catalog.open(settings.paths.catalog) as catalog:
        scan_dataset(catalog, settings.data, dataset)
        before = (_recordings(catalog), catalog.rows("SELECT * FROM recording_meta ORDER BY 1")[1], _findings(catalog))
    recordings_csv = dataset / "metadata" / "recordings.csv"

    def broken(change, columns=None):
        rows = _recording_rows()
        change(rows)
        _write_csv(recordings_csv, rows, columns)

    cases = [
        (
            lambda r: None,
            [c for c in _recording_rows()[0] if c != "recording_filename"],
            "line 1 (the header) has no column 'recording_filename'",
        ),
        (
            lambda r: r[3].update(recording_filename="C01/rec1.wav"),
            None,
            "line 5, column recording_filename: 'C01/rec1.wav' is also on line 2",
        ),
        (lambda r: r[2].update(child_id="C99"), None, "line 4, column child_id: 'C99' is not a child_id of"),
        (
            lambda r: r[0].update(date_iso="2020-13-01"),
            None,
            "line 2, column date_iso: '2020-13-01' is not a date YYYY-MM-DD",
        ),
        (
            lambda r: r[0].update(date_iso="2019-12-31"),
            None,
            "line 2, column date_iso: 2019-12-31 is before the child's date of birth",
        ),
        (lambda r: r[1].update(start_time="25:00"), None, "line 3, column start_time: '25:00' is not a time"),
        (
            lambda r: r[6].update(recording_device_type=""),
            None,
            "line 8, column recording_device_type: the value is empty",
        ),
    ]
    for change, columns, expected in cases:
        broken(change, columns)
        with Catalog.open(settings.paths.catalog) as catalog:
            with pytest.raises(MetadataError) as caught:
                scan_dataset(catalog, settings.data, dataset)
            after = (
                _recordings(catalog),
                catalog.rows("SELECT * FROM recording_meta ORDER BY 1")[1],
                _findings(catalog),
            )
        message = str(caught.value)
        assert message.startswith(str(recordings_csv)) and expected in message, message
        assert message.endswith("nothing was written.") and "\n" not in message
        assert after == before

    # A discarded row is not checked (ChildProject drops it first); children.csv is checked too.
    broken(lambda r: r[5].update(date_iso="soon"))
    with Catalog.open(settings.paths.catalog) as catalog:
        scan_dataset(catalog, settings.data, dataset)
    children = [dict(c) for c in CHILDREN]
    children[1]["child_dob"] = "15/06/2019"
    _write_csv(dataset / "metadata" / "children.csv", children)
    with pytest.raises(MetadataError, match=r"children.csv line 3, column child_dob: '15/06/2019' is not a date"):
        read_metadata(dataset)


def test_a_converted_profile_is_scanned_with_its_own_names(dataset, settings_for):
    profile = dataset / "recordings" / "converted" / "standard"
    write_tone(profile / "C01" / "rec1.flac", 3.0, sample_rate=16000)
    write_tone(profile / "C01" / "rec2.wav", 2.0, sample_rate=16000)  # no mapping row: same name
    _write_csv(
        profile / "recordings.csv",
        [{"original_filename": "C01/rec1.wav", "converted_filename": "C01/rec1.flac", "success": "True"}],
    )
    settings = settings_for(None, **{"data.childproject_root": dataset, "data.childproject_profile": "standard"})
    with Catalog.open(settings.paths.catalog) as catalog:
        summary = scan(catalog, settings.data)
        rows = _recordings(catalog)
        filenames = dict(catalog.con.execute("SELECT recording_id, recording_filename FROM recording_meta").fetchall())
        with pytest.raises(Exception, match="has no profile 'small'"):
            scan_dataset(catalog, settings.data, profile="small")
    assert rows["C01/rec1.flac"]["status"] == "ok" and rows["C01/rec1.flac"]["format"] == "FLAC"
    assert rows["C01/rec2.wav"]["status"] == "ok" and rows["C02/rec3.wav"]["status"] == "missing"
    assert filenames["rec1"] == "C01/rec1.wav"  # annotations still find it by its original name
    assert summary.ok_recordings == 2


def test_validate_keeps_the_scan_findings_and_a_plain_scan_forgets_the_dataset(dataset, settings_for):
    settings = settings_for(dataset / "recordings" / "raw", **{"validate.validate_workers": 1})
    with Catalog.open(settings.paths.catalog) as catalog:
        scan_dataset(catalog, settings.data, dataset)
        validate(catalog, settings.validate, settings.data)
        assert {f[0] for f in _findings(catalog).values()} == {"missing", "not_fetched", "unreferenced"}

        scan(catalog, settings.data)  # the raw folder as a plain tree: participants from the path again
        assert catalog.con.execute("SELECT count(*) FROM recording_meta").fetchone()[0] == 0
        assert _findings(catalog) == {}
        pids = {p: r["participant_id"] for p, r in _recordings(catalog).items()}
    assert pids["C01/rec1.wav"] == "C01" and pids["extra/stray.wav"] == "extra" and pids["rec4.wav"] == "unknown"


def test_summary_report_shows_hours_by_age_band_and_child(dataset, settings_for):
    settings = settings_for(None)
    with Catalog.open(settings.paths.catalog) as catalog:
        scan_dataset(catalog, settings.data, dataset)
        columns, rows, _ = run_report(catalog, "summary")
    rows = [dict(zip(columns, r)) for r in rows]
    bands = {r["value"]: (r["files"], r["hours"], r["participants"]) for r in rows if r["dimension"] == "age_band"}
    # rec1 at 3.6 months, gone at 4 (missing: a file, no hours), rec2 at 8, rec3 at 12.5, annexed at 13.6
    assert bands == {
        "00-06 months": (2, round(3.0 / 3600, 3), 1),
        "06-12 months": (1, round(2.0 / 3600, 3), 1),
        "12-18 months": (2, round(2.5 / 3600, 3), 1),
    }
    per_child = [r["value"] for r in rows if r["dimension"] == "child_age_band"]
    assert per_child == ["C01 00-06 months", "C01 06-12 months", "C02 12-18 months"]
    assert next(r for r in rows if r["dimension"] == "total")["files"] == 6  # rec4 (age unknown) counts in totals


def test_cli_scan_of_a_dataset_and_its_errors(dataset, tmp_path):
    runner = CliRunner()
    catalog = str(tmp_path / "cli.duckdb")
    result = runner.invoke(app, ["--catalog", catalog, "scan", "--childproject", str(dataset), "-f", "json"], env={})
    assert result.exit_code == 0, result.output
    counts = {r["what"]: r["count"] for r in json.loads(result.stdout)}
    assert counts["discarded rows (discard = 1, skipped)"] == 1 and counts["usable recordings"] == 4

    result = runner.invoke(app, ["--catalog", catalog, "scan", "--childproject", str(dataset), "--root", str(tmp_path)])
    assert result.exit_code == 1 and result.stderr.startswith("Error: Pass either --root")
    result = runner.invoke(app, ["--catalog", catalog, "scan", "--root", str(dataset), "--profile", "standard"])
    assert result.exit_code == 1 and "pass --childproject DIR too" in result.stderr

    (dataset / "metadata" / "children.csv").write_text("experiment,child_id\ntest,C01\n")
    result = runner.invoke(app, ["--catalog", catalog, "scan", "--childproject", str(dataset)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.strip().splitlines() == [
        f"Error: {dataset.resolve()}/metadata/children.csv: line 1 (the header) has no column 'child_dob', "
        "which ChildProject requires; nothing was written."
    ]


def test_the_fixture_passes_the_childproject_validator(dataset):
    """The fixture is the real format, not our reading of it (runs where `childproject` is installed)."""
    projects = pytest.importorskip("ChildProject.projects")
    annotations = pytest.importorskip("ChildProject.annotations")
    import shutil

    write_annotations(dataset)
    project = projects.ChildProject(str(dataset))
    # without ffprobe its per-file checks cannot run (pydub asks ffprobe for the sample rate)
    errors, warnings = project.validate(ignore_recordings=shutil.which("ffprobe") is None)
    assert [e for e in errors if "gone.wav" not in e] == []
    assert any("stray.wav" in w and "not indexed" in w for w in warnings)
    errors, _ = annotations.AnnotationManager(project).validate()
    assert errors == []


def test_an_exported_set_passes_the_childproject_validator(dataset, settings_for, tmp_path):
    """What `segments export --childproject` writes is the real format (runs where `childproject` is installed)."""
    projects = pytest.importorskip("ChildProject.projects")
    annotations = pytest.importorskip("ChildProject.annotations")

    write_annotations(dataset)
    _export_coding(dataset, settings_for(None), tmp_path)
    manager = annotations.AnnotationManager(projects.ChildProject(str(dataset)))
    assert manager.errors == []
    exported = manager.annotations[manager.annotations["set"] == "homecat"]
    assert sorted(exported["annotation_filename"]) == ["C01/rec1_0_3000.csv", "C02/rec3_0_2500.csv"]
    errors, warnings = manager.validate(annotations=exported, threads=1)
    assert (errors, warnings) == ([], [])
    # ChildProject's own 'csv' converter reads the raw files to the same rows
    raw = annotations.converters["csv"].convert(str(dataset / "annotations" / "homecat" / "raw" / "C01" / "rec1.csv"))
    converted = dataset / "annotations" / "homecat" / "converted" / "C01" / "rec1_0_3000.csv"
    assert raw.to_csv(index=False) == converted.read_text()


def _speech(catalog: Catalog) -> list[tuple]:
    return catalog.con.execute("SELECT * FROM speech ORDER BY ALL").fetchall()


def _ranges(catalog: Catalog) -> list[tuple]:
    return catalog.con.execute(
        "SELECT target, source, recording_id, start_sec, end_sec FROM annotated_ranges ORDER BY ALL"
    ).fetchall()


def test_a_voice_type_set_becomes_speech_rows_in_seconds_within_its_ranges(dataset, settings_for):
    write_annotations(dataset)
    settings = settings_for(None)
    with Catalog.open(settings.paths.catalog) as catalog:
        scan_dataset(catalog, settings.data, dataset)
        result = import_speech(catalog, dataset, "vtc")
        speech, ranges = _speech(catalog), _ranges(catalog)

        again = import_speech(catalog, dataset, "vtc")  # re-import replaces the set: same rows
        assert (_speech(catalog), _ranges(catalog), again.rows()) == (speech, ranges, result.rows())

    assert speech == [
        ("rec1", 0.1, 0.9, "childproject:vtc", "CHI"),
        ("rec1", 1.0, 1.5, "childproject:vtc", "FEM"),
        ("rec1", 2.5, 3.0, "childproject:vtc", "MAL"),  # 2500-3500 ms clipped to the range's 3000 ms
        ("rec3", 0.0, 1.25, "childproject:vtc", "SPEECH"),
        ("rec3", 1.2, 2.4, "childproject:vtc", "OCH"),
    ]
    assert ranges == [
        ("speech", "childproject:vtc", "rec1", 0.0, 3.0),
        ("speech", "childproject:vtc", "rec3", 0.0, 2.5),
    ]
    counts = {r["what"]: r["count"] for r in result.rows()}
    assert counts["speech rows imported"] == 5
    assert counts["annotation files (rows of metadata/annotations.csv)"] == 5
    assert counts["rows with an empty speaker_type (skipped)"] == 1
    assert counts["rows clipped to the annotated range"] == 1
    assert counts["files of recordings not in the catalog (discarded or unlisted; skipped)"] == 1
    assert counts["files of recordings without readable audio (skipped)"] == 1
    assert counts["files ChildProject did not convert (no annotation_filename; skipped)"] == 1
    assert counts["annotated hours (range_onset to range_offset)"] == round(5.5 / 3600, 3)


def test_a_set_into_segments_with_a_chosen_label_column_and_its_ranges(dataset, settings_for):
    write_annotations(dataset)
    settings = settings_for(None)
    with Catalog.open(settings.paths.catalog) as catalog:
        scan_dataset(catalog, settings.data, dataset)
        by_type = import_segments(catalog, dataset, "eaf")
        # "" and NA are missing values, not labels: invalid rows, skipped as findings (homecat.missing)
        by_vcm = import_segments(catalog, dataset, "vtc", label_column="vcm_type", skip_invalid=True)
        rows = catalog.con.execute(
            "SELECT source, tier, recording_id, start_sec, end_sec, label FROM segments ORDER BY ALL"
        ).fetchall()
        ids = catalog.con.execute("SELECT segment_id FROM segments ORDER BY ALL").fetchall()
        import_segments(catalog, dataset, "eaf")  # idempotent: same rows, same ids
        assert catalog.con.execute("SELECT segment_id FROM segments ORDER BY ALL").fetchall() == ids
        ranges = _ranges(catalog)
    assert rows == [
        ("childproject:eaf:speaker_type", "speaker_type", "rec1", 1.0, 1.2, "FEM"),  # clipped to 1000-2000 ms
        ("childproject:eaf:speaker_type", "speaker_type", "rec1", 1.5, 1.8, "CHI"),
        ("childproject:vtc:vcm_type", "vcm_type", "rec1", 0.1, 0.9, "C"),
        ("childproject:vtc:vcm_type", "vcm_type", "rec3", 1.2, 2.4, "N"),
    ]
    assert (by_type.outside_range, by_type.clipped_to_range, by_type.imported) == (1, 1, 2)
    assert (by_vcm.skipped_invalid, by_vcm.imported) == (4, 2)  # "" and NA are not labels
    assert ("segments", "childproject:eaf:speaker_type", "rec1", 1.0, 2.0) in ranges


def test_an_import_with_a_problem_imports_nothing_and_names_it(dataset, settings_for):
    write_annotations(dataset)
    settings = settings_for(None)
    converted = dataset / "annotations" / "vtc" / "converted" / "C02" / "rec3_0_2500.csv"
    with Catalog.open(settings.paths.catalog) as catalog:
        scan_dataset(catalog, settings.data, dataset)
        import_speech(catalog, dataset, "vtc")
        before = _speech(catalog), _ranges(catalog)

        with pytest.raises(HomecatError, match=r"has no rows of the set 'its' \(sets: eaf, vtc\)"):
            import_speech(catalog, dataset, "its")
        with pytest.raises(HomecatError, match=r"has no column 'addressee' \(columns: raw_filename"):
            import_segments(catalog, dataset, "vtc", label_column="addressee")

        text = converted.read_text().replace("1200,2400", "1200,soon")
        converted.write_text(text)
        with pytest.raises(
            MetadataError, match=r"rec3_0_2500.csv line 3, column segment_offset: 'soon' is not a number"
        ):
            import_speech(catalog, dataset, "vtc")

        converted.unlink()
        converted.symlink_to("../../../../.git/annex/objects/Xx/Yy/K/K")  # not fetched
        with pytest.raises(HomecatError) as caught:
            import_speech(catalog, dataset, "vtc")
        assert "datalad get annotations/vtc/converted/C02/rec3_0_2500.csv" in str(caught.value)
        assert str(caught.value).endswith("nothing was imported.")
        assert (_speech(catalog), _ranges(catalog)) == before


def test_cli_segments_import_of_a_set(dataset, tmp_path):
    write_annotations(dataset)
    runner = CliRunner()
    catalog = str(tmp_path / "cli.duckdb")
    assert runner.invoke(app, ["--catalog", catalog, "scan", "--childproject", str(dataset)], env={}).exit_code == 0
    args = ["--catalog", catalog, "segments", "import", "--childproject", str(dataset), "--set", "vtc"]
    result = runner.invoke(app, [*args, "--label-column", "vcm_type", "-f", "json"], env={})
    assert result.exit_code == 1 and "4 invalid rows" in result.stderr  # NA and empty vcm_type: not labels
    result = runner.invoke(app, [*args, "--label-column", "vcm_type", "--skip-invalid", "-f", "json"], env={})
    assert result.exit_code == 0, result.output
    counts = {r["what"]: r["count"] for r in json.loads(result.stdout)}
    assert counts["segments imported"] == 2 and counts["source (segments table)"] == "childproject:vtc:vcm_type"

    result = runner.invoke(app, [*args, "some.csv"], env={})
    assert result.exit_code == 1 and result.stderr.startswith("Error: Pass either annotation files or --childproject")
    result = runner.invoke(app, ["--catalog", catalog, "segments", "import", "--set", "vtc"], env={})
    assert result.exit_code == 1 and "needs both --childproject DIR and --set NAME" in result.stderr


CODING = (  # a coding of three recordings to the millisecond; rec2 is discarded before the export
    "recording,start_sec,end_sec,label\n"
    "C01/rec1.wav,0.1,0.9,CHI\nC01/rec1.wav,0.5,1.25,FEM\nC01/rec1.wav,2.001,2.999,MAL\n"
    "C02/rec3.wav,1.2,2.4,OCH\nC01/rec2.wav,0.0,1.0,FEM\n"
)


def _export_coding(dataset: Path, settings, tmp_path: Path, *extra: str) -> CliRunner:
    """Scan the dataset, import CODING (and a copy of it: each event twice), discard rec2, export set 'homecat'."""
    from homecat.segments import import_files

    for name in ("coding.csv", "copy.csv"):
        (tmp_path / name).write_text(CODING)
    with Catalog.open(settings.paths.catalog) as catalog:
        scan_dataset(catalog, settings.data, dataset)
        import_files(catalog, [tmp_path / "coding.csv", tmp_path / "copy.csv"])
    rows = _recording_rows()
    rows[1]["discard"] = "1"  # C01/rec2.wav: no longer a recording of the dataset
    _write_csv(dataset / "metadata" / "recordings.csv", rows)
    with Catalog.open(settings.paths.catalog) as catalog:
        scan_dataset(catalog, settings.data, dataset)
    runner = CliRunner()
    args = ["--catalog", str(settings.paths.catalog), "segments", "export", "--childproject", str(dataset)]
    result = runner.invoke(app, [*args, "--set", "homecat", *extra], env={})
    assert result.exit_code == 0, result.output
    return result


def test_segments_exported_as_a_childproject_set_import_back_the_same(dataset, settings_for, tmp_path):
    write_annotations(dataset)
    index = dataset / "metadata" / "annotations.csv"
    before = index.read_text()
    settings = settings_for(None)
    result = _export_coding(dataset, settings, tmp_path)
    assert result.stderr.splitlines() == [
        f"note: 1 segments of recordings that {dataset.resolve()}/metadata/recordings.csv does not list were not "
        "exported",
        f"Wrote set homecat to {dataset}: 4 segments of 2 recordings (column speaker_type); check it with "
        f"'child-project validate {dataset} --annotations homecat'",
    ]

    # the index keeps its rows and columns, and gains one row per recording, ranging over the whole recording
    text = index.read_text()
    assert text.startswith(before)
    added = list(
        csv.DictReader(text.splitlines()[len(before.splitlines()) :], fieldnames=before.splitlines()[0].split(","))
    )
    assert [
        (r["recording_filename"], r["range_onset"], r["range_offset"], r["annotation_filename"]) for r in added
    ] == [
        ("C01/rec1.wav", "0", "3000", "C01/rec1_0_3000.csv"),
        ("C02/rec3.wav", "0", "2500", "C02/rec3_0_2500.csv"),
    ]
    assert {(r["set"], r["time_seek"], r["format"], r["raw_filename"], r["package_version"]) for r in added} == {
        ("homecat", "0", "csv", "C01/rec1.csv", "0.1.0"),
        ("homecat", "0", "csv", "C02/rec3.csv", "0.1.0"),
    }
    folder = dataset / "annotations" / "homecat"
    converted = (folder / "converted" / "C01" / "rec1_0_3000.csv").read_text()
    assert converted == (
        "raw_filename,segment_onset,segment_offset,speaker_type\n"
        "C01/rec1.csv,100,900,CHI\nC01/rec1.csv,500,1250,FEM\nC01/rec1.csv,2001,2999,MAL\n"
    )  # each event once although imported from two files
    assert (folder / "raw" / "C01" / "rec1.csv").read_text() == converted
    assert not list(folder.rglob("*.partial"))

    with Catalog.open(settings.paths.catalog) as catalog:
        back = import_segments(catalog, dataset, "homecat")
        rows = catalog.con.execute(
            "SELECT source, recording_id, start_sec, end_sec, label FROM segments "
            "WHERE recording_id <> 'rec2' ORDER BY recording_id, start_sec, source"
        ).fetchall()
    assert back.imported == 4 and (back.clipped_to_range, back.outside_range) == (0, 0)
    by_source = {source: [r[1:] for r in rows if r[0] == source] for source in {r[0] for r in rows}}
    assert by_source["childproject:homecat:speaker_type"] == by_source["coding.csv"]


def test_an_export_into_a_childproject_dataset_is_refused_before_anything_is_written(dataset, settings_for, tmp_path):
    write_annotations(dataset)
    settings = settings_for(None)
    _export_coding(dataset, settings, tmp_path, "--label-column", "transcription")

    def refused(*args: str) -> str:
        files = sorted(str(p) for p in dataset.rglob("*"))
        index = (dataset / "metadata" / "annotations.csv").read_text()
        result = CliRunner().invoke(
            app, ["--catalog", str(settings.paths.catalog), "segments", "export", *args], env={}
        )
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert (sorted(str(p) for p in dataset.rglob("*")), (dataset / "metadata" / "annotations.csv").read_text()) == (
            files,
            index,
        )
        assert len(result.stderr.strip().splitlines()) == 1
        return result.stderr

    into = ["--childproject", str(dataset)]
    assert "The annotation set 'homecat' already exists" in refused(*into, "--set", "homecat")
    assert "The annotation set 'vtc' already exists" in refused(*into, "--set", "vtc")  # rows of annotations.csv
    (dataset / "annotations" / "mine").mkdir()
    assert "The annotation set 'mine' already exists" in refused(*into, "--set", "mine")  # its folder
    assert "'../out' cannot be an annotation set's name" in refused(*into, "--set", "../out")

    (tmp_path / "labels.csv").write_text("recording,start_sec,end_sec,label\nC01/rec1.wav,0.1,0.9,adult\n")
    with Catalog.open(settings.paths.catalog) as catalog:
        from homecat.segments import import_files

        import_files(catalog, [tmp_path / "labels.csv"])
    message = refused(*into, "--set", "coded", "--source", "labels.csv")
    assert (
        "The labels adult cannot go to the column speaker_type: ChildProject allows only FEM, MAL, CHI, OCH, NA"
        in message
    )
    assert "pass --label-column with a column without fixed values (transcription" in message
    assert "The labels adult cannot go to the column vcm_type" in refused(
        *into, "--set", "coded", "--source", "labels.csv", "--label-column", "vcm_type"
    )

    other = write_dataset(tmp_path / "other")
    message = refused("--childproject", str(other), "--set", "coded")
    assert f"was scanned from {dataset.resolve()}, not from {other.resolve()}" in message
    assert not (other / "annotations").exists()

    assert "exactly one of --output DIR" in refused("--set", "coded")
    assert "exactly one of --output DIR" in refused(*into, "-o", str(tmp_path / "out"))
    assert "--format is for --output files" in refused(*into, "--set", "coded", "--format", "eaf")
    assert "needs --set NAME" in refused(*into)

    # a failure while writing (here: the index cannot be replaced) leaves no half-written set behind
    index = dataset / "metadata" / "annotations.csv"
    index.rename(tmp_path / "annotations.csv")
    index.mkdir()
    result = CliRunner().invoke(
        app,
        [
            "--catalog",
            str(settings.paths.catalog),
            "segments",
            "export",
            *into,
            "--set",
            "coded",
            "--source",
            "coding.csv",
        ],
        env={},
    )
    assert result.exit_code == 1 and f"{index} cannot be written" in result.stderr
    assert not (dataset / "annotations" / "coded").exists() and list(index.iterdir()) == []


def test_cli_vad_import_of_a_set(dataset, tmp_path):
    write_annotations(dataset)
    runner = CliRunner()
    catalog = str(tmp_path / "cli.duckdb")
    assert runner.invoke(app, ["--catalog", catalog, "scan", "--childproject", str(dataset)], env={}).exit_code == 0
    args = ["--catalog", catalog, "vad", "import", "--childproject", str(dataset), "--set", "vtc", "-f", "csv"]
    result = runner.invoke(app, args, env={})
    assert result.exit_code == 0, result.output
    assert "speech rows imported,5\n" in result.stdout
    with Catalog.open(catalog, read_only=True) as opened:
        assert opened.con.execute("SELECT DISTINCT source FROM speech").fetchall() == [("childproject:vtc",)]
    result = runner.invoke(app, [*args, "--source", "vtc"], env={})
    assert result.exit_code == 1 and "a ChildProject set's source is 'childproject:SET'" in result.stderr


def test_a_file_not_in_utf8_or_not_csv_is_one_sentence_and_nothing_is_written(dataset, settings_for, tmp_path):
    settings = settings_for(None)
    with Catalog.open(settings.paths.catalog) as catalog:
        scan_dataset(catalog, settings.data, dataset)
        before = (_recordings(catalog), catalog.rows("SELECT * FROM recording_meta ORDER BY 1")[1], _findings(catalog))
    recordings_csv = dataset / "metadata" / "recordings.csv"
    rows = _recording_rows()
    rows[2]["session_id"] = "C02-été"  # line 4, saved by Excel as "CSV" (cp1252)
    _write_csv(recordings_csv, rows)
    recordings_csv.write_bytes(recordings_csv.read_text(encoding="utf-8").encode("cp1252"))

    result = CliRunner().invoke(
        app, ["--catalog", str(settings.paths.catalog), "scan", "--childproject", str(dataset)], env={}
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.strip().splitlines() == [
        f"Error: {dataset.resolve()}/metadata/recordings.csv line 4: byte 0xe9 is not UTF-8 (the file was saved "
        "in another encoding: save it as CSV UTF-8); nothing was written."
    ]

    # a row the csv module cannot read (a field over its size limit) names the file and line too
    children = [dict(c) for c in CHILDREN]
    children[2]["child_sex"] = "m" * (csv.field_size_limit() + 1)
    _write_csv(dataset / "metadata" / "children.csv", children)
    _write_csv(recordings_csv, _recording_rows())
    with Catalog.open(settings.paths.catalog) as catalog:
        with pytest.raises(MetadataError) as caught:
            scan_dataset(catalog, settings.data, dataset)
        after = (_recordings(catalog), catalog.rows("SELECT * FROM recording_meta ORDER BY 1")[1], _findings(catalog))
    assert str(caught.value).startswith(f"{dataset.resolve()}/metadata/children.csv line 4: not a readable CSV row")
    assert str(caught.value).endswith("nothing was written.")
    assert after == before

    # a converted annotation file in cp1252 stops the import the same way
    _write_csv(dataset / "metadata" / "children.csv", CHILDREN)
    write_annotations(dataset)
    converted = dataset / "annotations" / "vtc" / "converted" / "C02" / "rec3_0_2500.csv"
    converted.write_bytes(converted.read_text().replace("OCH", "OCH\u00e9").encode("cp1252"))
    with Catalog.open(settings.paths.catalog) as catalog:
        with pytest.raises(
            MetadataError, match=r"rec3_0_2500.csv line 3: byte 0xe9 is not UTF-8.*nothing was imported"
        ):
            import_speech(catalog, dataset, "vtc")
        assert _speech(catalog) == [] and _ranges(catalog) == []


def test_the_metadata_stored_is_the_metadata_read_even_if_the_file_changes_during_the_scan(dataset, settings_for):
    settings = settings_for(None)
    rows = _recording_rows()
    rows[2]["child_id"] = "C01"  # rec3 moves to C01 while the first scan reads audio

    def edit_once(done: int, total: int) -> None:
        if rows[2]["child_id"] == "C01":
            _write_csv(dataset / "metadata" / "recordings.csv", rows)
            rows[2]["child_id"] = "edited"

    with Catalog.open(settings.paths.catalog) as catalog:
        scan_dataset(catalog, settings.data, dataset, progress=edit_once)
        assert rows[2]["child_id"] == "edited"  # the edit came after the metadata was read
        child = "SELECT child_id FROM recording_meta WHERE recording_filename = 'C02/rec3.wav'"
        assert catalog.con.execute(child).fetchone() == ("C02",)  # what this scan read

        scan_dataset(catalog, settings.data, dataset)  # the next scan sees the edit
        assert catalog.con.execute(child).fetchone() == ("C01",)
        assert _recordings(catalog)["C02/rec3.wav"]["participant_id"] == "C01"


def test_a_range_starting_at_or_after_the_recordings_end_is_skipped_and_counted(dataset, settings_for):
    past_end = [
        ("vtc", "C01/rec1.wav", 3000, 4000, "C01/rec1_3000_4000.csv", [(3100, 3500, "CHI", "")]),  # rec1 is 3 s
        ("vtc", "C01/rec2.wav", 2500, 9000, "C01/rec2_2500_9000.csv", [(2600, 2900, "FEM", "")]),  # rec2 is 2 s
    ]
    write_annotations(dataset, ANNOTATIONS + past_end)
    settings = settings_for(None)
    with Catalog.open(settings.paths.catalog) as catalog:
        scan_dataset(catalog, settings.data, dataset)
        speech = import_speech(catalog, dataset, "vtc")
        segments = import_segments(catalog, dataset, "vtc", skip_invalid=True)  # one empty speaker_type
        ranges = _ranges(catalog)
        stored = _speech(catalog)
    assert all(end > start for *_, start, end in ranges)
    assert sorted(r[2:] for r in ranges if r[0] == "speech") == [("rec1", 0.0, 3.0), ("rec3", 0.0, 2.5)]
    assert len(stored) == 5 and all(r[2] <= 3.0 for r in stored)
    for result in (speech, segments):
        counts = {r["what"]: r["count"] for r in result.rows()}
        assert counts["files whose range starts at or after the recording's end (skipped)"] == 2
        assert counts["annotation files (rows of metadata/annotations.csv)"] == 7
        assert counts["annotated hours (range_onset to range_offset)"] == round(5.5 / 3600, 3)


def test_a_discarded_child_is_not_checked_and_its_recordings_are_discarded(dataset, settings_for):
    children = [
        *CHILDREN,
        {"experiment": "test", "child_id": "C04", "child_dob": "", "discard": "1"},  # empty dob: not checked
        {"experiment": "test", "child_id": "C01", "child_dob": "soon", "discard": "1"},  # C01 is also kept
    ]
    _write_csv(dataset / "metadata" / "children.csv", children, [*CHILDREN[0], "discard"])
    rows = _recording_rows()
    rows.append(
        {
            "experiment": "test",
            "child_id": "C04",
            "date_iso": "soon",  # bad values of a discarded child's recording are not checked either
            "start_time": "",
            "recording_device_type": "",
            "recording_filename": "C04/rec5.wav",
            "discard": "0",
        }
    )
    _write_csv(dataset / "metadata" / "recordings.csv", rows)
    write_tone(dataset / "recordings" / "raw" / "C04" / "rec5.wav", 2.0)
    settings = settings_for(None)
    with Catalog.open(settings.paths.catalog) as catalog:
        summary = scan_dataset(catalog, settings.data, dataset)
        recordings = _recordings(catalog)
        children_of = dict(catalog.con.execute("SELECT recording_filename, child_id FROM recording_meta").fetchall())
        findings = _findings(catalog)
    assert "C04/rec5.wav" not in recordings and "C04/rec5.wav" not in children_of
    assert not any("rec5" in key for key in findings)  # discarded, not unreferenced
    assert children_of["C01/rec1.wav"] == "C01"  # the kept C01's recordings stay
    counts = {r["what"]: r["count"] for r in summary.rows()}
    assert counts["discarded rows (discard = 1, skipped)"] == 2  # old.wav and C04's rec5.wav
    assert counts["listed recordings (metadata/recordings.csv)"] == 6

    # a kept child is still checked
    children[0] = {**CHILDREN[0], "child_dob": ""}
    _write_csv(dataset / "metadata" / "children.csv", children, [*CHILDREN[0], "discard"])
    with pytest.raises(MetadataError, match=r"children.csv line 2, column child_dob: the value is empty"):
        read_metadata(dataset)


# --------------------------------------------------------------------------- extra metadata files (issue 24)


def write_extra_metadata(dataset: Path) -> None:
    """Extra files as ChildProject datasets keep confidential columns: merged by id over the top-level files."""
    _write_csv(
        dataset / "metadata" / "children" / "extra.csv",
        [
            {"child_id": "C01", "child_dob": "2019-12-01", "child_sex": ""},  # C01's date of birth replaced
            {"child_id": "C02", "child_dob": "", "child_sex": "x"},  # an empty value keeps the earlier one
            {"child_id": "C99", "child_dob": "2000-01-01", "child_sex": "f"},  # no such child: ignored
        ],
    )
    # merged after extra.csv (ChildProject goes by descending file name), from a subfolder
    _write_csv(
        dataset / "metadata" / "children" / "private" / "a.csv", [{"child_id": "C02", "child_dob": "2019-07-15"}]
    )
    _write_csv(
        dataset / "metadata" / "recordings" / "dates.csv",
        [{"recording_filename": "C01/rec2.wav", "date_iso": "2020-10-01"}],
    )


def test_extra_metadata_files_are_merged_over_the_top_level_ones_as_childproject_merges_them(dataset):
    write_extra_metadata(dataset)
    ages = {
        r.recording_filename: (str(r.child_dob), str(r.date_iso), r.age_months)
        for r in read_metadata(dataset).recordings
    }
    # ChildProject 0.4.6's ChildProject(dataset).read() + compute_ages() on this dataset gives the same ages
    assert ages["C01/rec1.wav"] == ("2019-12-01", "2020-04-20", pytest.approx(141 / (365.25 / 12)))  # 4.632
    assert ages["C01/rec2.wav"] == ("2019-12-01", "2020-10-01", pytest.approx(305 / (365.25 / 12)))  # 10.021
    assert ages["C02/rec3.wav"] == ("2019-07-15", "2020-07-01", pytest.approx(352 / (365.25 / 12)))  # 11.565
    assert ages["C02/annexed.wav"][:2] == ("2019-07-15", "2020-08-01")


def test_a_conflict_in_an_extra_metadata_file_names_that_file_and_line(dataset):
    write_extra_metadata(dataset)
    dates = dataset / "metadata" / "recordings" / "dates.csv"
    rows = [{"recording_filename": "C01/rec2.wav", "date_iso": "2019-11-30"}]  # before C01's (merged) birth
    _write_csv(dates, rows)
    with pytest.raises(MetadataError) as caught:
        read_metadata(dataset)
    assert str(caught.value).startswith(
        f"{dates} line 2, column date_iso: 2019-11-30 is before the child's date of birth 2019-12-01 (child C01, "
        f"{dataset / 'metadata' / 'children' / 'extra.csv'} line 2; recording C01/rec2.wav): an age cannot be negative"
    )
    _write_csv(dates, [*rows, {"recording_filename": "C01/rec2.wav", "date_iso": "2020-10-01"}])
    with pytest.raises(
        MetadataError, match=r"dates.csv line 3, column recording_filename: 'C01/rec2.wav' is also on line 2"
    ):
        read_metadata(dataset)
    _write_csv(dates, [{"recording_filename": "C01/rec2.wav", "date_iso": "someday"}])
    with pytest.raises(MetadataError, match=r"dates.csv line 2, column date_iso: 'someday' is not a date"):
        read_metadata(dataset)
    _write_csv(dataset / "metadata" / "recordings" / "old" / "dates.csv", [{"recording_filename": "x.wav"}])
    with pytest.raises(MetadataError, match=r"two extra metadata files are both named dates.csv"):
        read_metadata(dataset)


def test_extra_metadata_ages_reach_the_catalog(dataset, settings_for):
    write_extra_metadata(dataset)
    settings = settings_for(None)
    with Catalog.open(settings.paths.catalog) as catalog:
        scan_dataset(catalog, settings.data, dataset)
        _, rows = catalog.rows("SELECT recording_id, round(age_months, 3) FROM recording_ages ORDER BY 1")
    ages = dict(rows)
    assert ages["rec1"] == round(141 / (365.25 / 12), 3) and ages["rec2"] == round(305 / (365.25 / 12), 3)
    # an edit of an extra file alone is seen by the next scan (the metadata's digest covers every file read)
    _write_csv(dataset / "metadata" / "children" / "extra.csv", [{"child_id": "C01", "child_dob": "2020-04-01"}])
    with Catalog.open(settings.paths.catalog) as catalog:
        scan_dataset(catalog, settings.data, dataset)
        _, rows = catalog.rows("SELECT recording_id, round(age_months, 3) FROM recording_ages ORDER BY 1")
    assert dict(rows)["rec1"] == round(19 / (365.25 / 12), 3)


def test_extra_metadata_ages_equal_childprojects_own(dataset):
    """ChildProject's reader as the oracle (runs where `childproject` is installed; it pins pandas < 3)."""
    projects = pytest.importorskip("ChildProject.projects")
    write_extra_metadata(dataset)
    project = projects.ChildProject(str(dataset))
    project.read()
    theirs = dict(zip(project.recordings["recording_filename"], project.compute_ages(), strict=True))
    ours = {r.recording_filename: r.age_months for r in read_metadata(dataset).recordings}
    assert ours.keys() == theirs.keys()
    for name, age in ours.items():
        assert (age is None and theirs[name] != theirs[name]) or age == pytest.approx(theirs[name]), name
