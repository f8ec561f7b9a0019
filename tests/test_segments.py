"""`homecat segments import` and `homecat report segments`: CSV/TSV, Praat TextGrid and ELAN EAF files
written here, imported into a real catalog of real audio (scan, and validate where it matters)."""

from __future__ import annotations

import json
from pathlib import Path

import pympi
import pytest
from praatio import textgrid
from praatio.utilities.constants import Interval, Point
from typer.testing import CliRunner

from homecat.catalog import Catalog
from homecat.cli import app
from homecat.demo import make_demo_corpus
from homecat.errors import HomecatError
from homecat.scan import scan
from homecat.segments import (
    Candidate,
    RecordingIndex,
    SegmentRow,
    check_candidates,
    import_file,
    import_files,
    segment_id,
    store_segments,
)
from tests.catalog_helpers import scan_and_validate

runner = CliRunner()

# small_tree (conftest): P01/P01_a.wav 3.0 s, P01/P01_b.flac 2.5 s, P02/day1/P02_a.WAV 2.0 s,
# P02/P02_float.wav 2.0 s, loose.wav 2.0 s (participant 'unknown'), P02/notes.wav unreadable.


def _segments(catalog_path: Path, source: str | None = None) -> list[tuple]:
    with Catalog.open(catalog_path, read_only=True) as catalog:
        _, rows = catalog.rows(
            "SELECT recording_id, start_sec, end_sec, label, tier, source, segment_id FROM segments "
            "WHERE $source IS NULL OR source = $source ORDER BY source, tier, recording_id, start_sec",
            {"source": source},
        )
    return rows


def _findings(catalog_path: Path) -> list[tuple]:
    with Catalog.open(catalog_path, read_only=True) as catalog:
        _, rows = catalog.rows(
            "SELECT recording_id, code, severity, message FROM findings WHERE stage = 'segments' ORDER BY message"
        )
    return rows


def _import(catalog_path: Path, path: Path, **kwargs):
    with Catalog.open(catalog_path) as catalog:
        return import_file(catalog, path, **kwargs)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def invoke(catalog_path: Path, *args: str):
    return runner.invoke(app, ["--catalog", str(catalog_path), *args], env={}, catch_exceptions=False)


# --------------------------------------------------------------------------- formats


def test_csv_by_rel_path_or_recording_id_with_tiers(catalog_path, tmp_path):
    csv_file = _write(
        tmp_path / "coding.csv",
        "recording,start_sec,end_sec,label,tier\n"
        "P01/P01_a.wav,0.5,1.25,infant,speaker\n"
        "P01_b,0,2.5,adult,speaker\n"  # a recording_id; ends exactly at the end of the file
        "P02/day1/P02_a.WAV, 0.25 , 1.0 , canonical ,vcm\n"  # spaces around values are trimmed
        "loose.wav,1,2,adult,\n",
    )
    result = _import(catalog_path, csv_file)
    assert (result.imported, result.skipped, result.merged) == (4, 0, 0)
    assert result.summary() == "imported 4 segments from coding.csv (0 skipped)"
    rows = _segments(catalog_path)
    assert [r[:6] for r in rows] == [
        ("loose", 1.0, 2.0, "adult", "", "coding.csv"),
        ("P01_a", 0.5, 1.25, "infant", "speaker", "coding.csv"),
        ("P01_b", 0.0, 2.5, "adult", "speaker", "coding.csv"),
        ("P02_a", 0.25, 1.0, "canonical", "vcm", "coding.csv"),
    ]
    assert rows[1][6] == segment_id("coding.csv", "speaker", "P01_a", 0.5, 1.25)
    assert len({r[6] for r in rows}) == 4


def test_tsv_and_a_recording_id_column(catalog_path, tmp_path):
    tsv = _write(
        tmp_path / "vtc.tsv",
        "recording_id\tstart_sec\tend_sec\tlabel\nP01_a\t0.1\t0.9\tFEM\nP02_float\t1.0\t1.5\tKCHI\n",
    )
    assert _import(catalog_path, tsv).imported == 2
    assert [r[:5] for r in _segments(catalog_path)] == [
        ("P01_a", 0.1, 0.9, "FEM", ""),
        ("P02_float", 1.0, 1.5, "KCHI", ""),
    ]


def _textgrid(path: Path, duration_sec: float = 3.0) -> Path:
    grid = textgrid.Textgrid()
    grid.addTier(
        textgrid.IntervalTier(
            "speaker", [Interval(0.2, 0.8, "CHI"), Interval(1.0, 1.5, "  "), Interval(2.0, 2.9, "FEM")], 0, duration_sec
        )
    )
    grid.addTier(textgrid.IntervalTier("vcm", [Interval(0.2, 0.8, "canonical")], 0, duration_sec))
    grid.addTier(textgrid.PointTier("clicks", [Point(1.2, "click")], 0, duration_sec))
    grid.save(str(path), format="long_textgrid", includeBlankSpaces=True)
    return path


def test_textgrid_matched_by_stem_every_interval_tier_empty_intervals_skipped(catalog_path, tmp_path):
    grid = _textgrid(tmp_path / "P01_a.TextGrid")
    result = _import(catalog_path, grid)
    assert result.imported == 3
    assert [r[:5] for r in _segments(catalog_path)] == [
        ("P01_a", 0.2, 0.8, "CHI", "speaker"),
        ("P01_a", 2.0, 2.9, "FEM", "speaker"),
        ("P01_a", 0.2, 0.8, "canonical", "vcm"),
    ]
    # --tier chooses; a re-import replaces every row of the file, so the other tier is gone
    assert _import(catalog_path, grid, tiers=["vcm"]).imported == 1
    assert [r[4] for r in _segments(catalog_path)] == ["vcm"]
    with pytest.raises(
        HomecatError, match=r"P01_a.TextGrid has no tier 'words' \(its tiers: 'clicks', 'speaker', 'vcm'\)"
    ):
        _import(catalog_path, grid, tiers=["words"])
    with pytest.raises(HomecatError, match="'clicks' is a point tier"):
        _import(catalog_path, grid, tiers=["clicks"])


def _eaf(path: Path, annotations: list[tuple[int, int, str]], tier: str = "events") -> Path:
    eaf = pympi.Elan.Eaf()
    eaf.add_tier(tier)
    eaf.remove_tier("default")
    for start_ms, end_ms, value in annotations:
        eaf.add_annotation(tier, start_ms, end_ms, value)
    path.write_bytes(pympi.Elan.to_string(eaf, encoding="UTF-8"))
    return path


def test_eaf_with_recording_given_and_a_reference_tier(catalog_path, tmp_path):
    path = tmp_path / "session 3 coding.eaf"
    eaf = pympi.Elan.Eaf()
    eaf.add_tier("CHI")
    eaf.remove_tier("default")
    eaf.add_annotation("CHI", 100, 900, "0.")
    eaf.add_annotation("CHI", 1200, 1500, "")  # an empty annotation is not a segment
    eaf.add_linguistic_type("assoc", constraints="Symbolic_Association", timealignable=False)
    eaf.add_tier("vcm@CHI", ling="assoc", parent="CHI")
    eaf.add_ref_annotation("vcm@CHI", "CHI", 500, "C")  # inherits its parent's times
    path.write_bytes(pympi.Elan.to_string(eaf, encoding="UTF-8"))
    with pytest.raises(HomecatError, match="no recording in the catalog has the id or file stem 'session 3 coding'"):
        _import(catalog_path, path)
    result = _import(catalog_path, path, recording="P01/P01_b.flac")
    assert (result.source, result.imported) == ("session 3 coding.eaf", 2)
    assert [r[:5] for r in _segments(catalog_path)] == [
        ("P01_b", 0.1, 0.9, "0.", "CHI"),
        ("P01_b", 0.1, 0.9, "C", "vcm@CHI"),
    ]
    with pytest.raises(HomecatError, match="--recording 'P09.wav' is not a rel_path or recording_id"):
        _import(catalog_path, path, recording="P09.wav")


def test_the_demo_corpus_annotation_files_import_cleanly(tmp_path, settings_for):
    root = tmp_path / "demo"
    corpus = make_demo_corpus(root, minutes=0.2)
    settings = settings_for(root)
    scan_and_validate(settings)
    with Catalog.open(settings.paths.catalog) as catalog:
        report = import_files(catalog, corpus.annotation_files)
    assert report.error() is None
    csv_rows = sum(1 for _ in corpus.events_csv.open()) - 1
    assert [(r.source, r.skipped, r.merged) for r in report.results] == [
        ("annotations.csv", 0, 0),
        ("P01_day1.TextGrid", 0, 0),
        ("P02_day1.eaf", 0, 0),
    ]
    assert report.results[0].imported == csv_rows
    # The TextGrid and the EAF hold the same events as the CSV's rows of their recording.
    from_csv = {(r[0], r[1], r[2], r[3], r[4]) for r in _segments(settings.paths.catalog, "annotations.csv")}
    for source, recording_id in [("P01_day1.TextGrid", "P01_day1"), ("P02_day1.eaf", "P02_day1")]:
        rows = {(r[0], r[1], r[2], r[3], r[4]) for r in _segments(settings.paths.catalog, source)}
        assert rows and rows == {r for r in from_csv if r[0] == recording_id}
        assert {r[4] for r in rows} == {"events"}


# --------------------------------------------------------------------------- problems


BAD_CSV = (
    "recording,start_sec,end_sec,label\n"  # line 1
    "P01/P01_a.wav,0.5,1.0,adult\n"  # 2: fine
    "P09/nobody.wav,0.5,1.0,adult\n"  # 3: unknown recording
    "P01/P01_a.wav,2.0,1.5,adult\n"  # 4: end before start
    "P01/P01_a.wav,1.0,1.0,adult\n"  # 5: zero length
    "P01/P01_a.wav,-0.5,1.0,infant\n"  # 6: negative
    "P01/P01_a.wav,2.5,3.5,infant\n"  # 7: past the end (3.0 s)
    "P01/P01_a.wav,2.5,3.005,infant\n"  # 8: fine: within the 10 ms tolerance, clipped to 3.0
    "P01/P01_a.wav,1.5,2.0,   \n"  # 9: empty label
    "\n"  # 10: blank lines are skipped but counted
    'P01/P01_a.wav,"1,5",2.0,adult\n'  # 11: not a number
    "P01/P01_a.wav,1.5,,adult\n"  # 12: missing
    "P02/notes.wav,0,1,adult\n"  # 13: unreadable recording
    "P09/x.wav,abc,-1,\n"  # 14: four problems in one row
)
BAD_LINES = [
    "bad.csv has 10 invalid rows, so nothing from it was imported (fix them, or pass --skip-invalid to "
    "import the valid ones):",
    "bad.csv: line 3: unknown recording 'P09/nobody.wav' (no rel_path, recording_id, file name, stem or path tail in the catalog).",
    "bad.csv: line 4: end_sec 1.500 is not after start_sec 2.000.",
    "bad.csv: line 5: end_sec 1.000 is not after start_sec 1.000.",
    "bad.csv: line 6: start_sec -0.500 is negative.",
    "bad.csv: line 7: end_sec 3.500 is past the end of P01/P01_a.wav (3.000 s).",
    "bad.csv: line 9: the label is empty.",
    "bad.csv: line 11: start_sec '1,5' is not a number.",
    "bad.csv: line 12: end_sec is missing.",
    "bad.csv: line 13: recording P02/notes.wav is unreadable: it has no readable audio.",
    "bad.csv: line 14: unknown recording 'P09/x.wav' (no rel_path, recording_id, file name, stem or path tail in the catalog); "
    "start_sec 'abc' is not a number; end_sec -1.000 is negative; the label is empty.",
]


def test_every_bad_row_is_reported_with_its_line_and_nothing_is_imported(catalog_path, tmp_path):
    bad = _write(tmp_path / "bad.csv", "recording,start_sec,end_sec,label\nP01/P01_a.wav,0.1,0.2,adult\n")
    assert _import(catalog_path, bad).imported == 1
    before = _segments(catalog_path)
    _write(bad, BAD_CSV + "P01/P01_a.wav,0.5,1.0,infant\n")  # 15: line 2's interval with another label
    with pytest.raises(HomecatError) as caught:
        _import(catalog_path, bad)
    assert caught.value.lines[0] == BAD_LINES[0].replace("10 invalid", "11 invalid")
    assert caught.value.lines[1:] == BAD_LINES[1:] + [
        "bad.csv: line 15: the same interval as line 2 (tier '', 0.500-1.000 s) with another label "
        "('infant' here, 'adult' there)."
    ]
    assert _segments(catalog_path) == before  # the earlier import of bad.csv is untouched
    assert _findings(catalog_path) == []


def test_interval_problems_name_the_tier_and_interval(catalog_path, tmp_path):
    path = _eaf(tmp_path / "P02_float.eaf", [(500, 1000, "a"), (1500, 2500, "b"), (1900, 2000, "c")])
    with pytest.raises(HomecatError) as caught:
        _import(catalog_path, path)
    assert caught.value.lines == [
        "P02_float.eaf has 1 invalid interval, so nothing from it was imported (fix them, or pass --skip-invalid "
        "to import the valid ones):",
        "P02_float.eaf: tier 'events' annotation 2 (1.500-2.500 s): end_sec 2.500 is past the end of "
        "P02/P02_float.wav (2.000 s).",
    ]
    grid = _textgrid(tmp_path / "P02_float.TextGrid", duration_sec=3.0)  # its FEM interval ends at 2.9 s
    with pytest.raises(HomecatError, match=r"tier 'speaker' interval 6 \(2.000-2.900 s\): end_sec 2.900 is past"):
        _import(catalog_path, grid)  # interval 6 as Praat numbers it: the empty ones count


def test_the_listing_is_capped(catalog_path, tmp_path):
    rows = "".join(f"P01/P01_a.wav,{i},{i},adult\n" for i in range(60))
    with pytest.raises(HomecatError) as caught:
        _import(catalog_path, _write(tmp_path / "many.csv", "recording,start_sec,end_sec,label\n" + rows))
    lines = caught.value.lines
    assert lines[0].startswith("many.csv has 60 invalid rows") and len(lines) == 52
    assert lines[-2].startswith("many.csv: line 51:") and lines[-1] == "... and 10 more."


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("no_label.csv", "recording,start_sec,end_sec\nP01_a,0,1\n", "no_label.csv: line 1: the header lacks label;"),
        ("empty.csv", "", "empty.csv is empty"),
        ("notes.docx", "x", "unknown annotation format '.docx'"),
        ("broken.eaf", "<ANNOTATION_DOCUMENT", "broken.eaf cannot be read as an ELAN .eaf file"),
        ("P01_a.TextGrid", "garbage\n", "P01_a.TextGrid cannot be read as a Praat TextGrid"),
        ("latin1.csv", None, "latin1.csv is not UTF-8 text"),
    ],
)
def test_a_file_that_cannot_be_read_is_one_sentence(catalog_path, tmp_path, name, text, message):
    path = tmp_path / name
    if text is None:
        path.write_bytes("recording,start_sec,end_sec,label\nP01_a,0,1,Bébé\n".encode("latin-1"))
    else:
        _write(path, text)
    with pytest.raises(HomecatError) as caught:
        _import(catalog_path, path, skip_invalid=True)
    assert len(caught.value.lines) == 1 and message in caught.value.lines[0]


def test_a_stem_shared_by_several_recordings_asks_for_recording(tmp_path, settings_for):
    from tests.conftest import write_tone

    root = tmp_path / "raw"
    write_tone(root / "P01" / "day1.wav", 1.0)
    write_tone(root / "P02" / "day1.wav", 1.0)
    settings = settings_for(root)
    with Catalog.open(settings.paths.catalog) as catalog:
        scan(catalog, settings.data)
        ids = sorted(r.recording_id for r in RecordingIndex.load(catalog).recordings)
        grid = tmp_path / "day1.TextGrid"
        tg = textgrid.Textgrid()
        tg.addTier(textgrid.IntervalTier("t", [Interval(0.1, 0.5, "x")], 0, 1.0))
        tg.save(str(grid), format="long_textgrid", includeBlankSpaces=True)
        with pytest.raises(HomecatError) as caught:
            import_file(catalog, grid)
        assert caught.value.lines == [
            f"day1.TextGrid: several recordings have the file stem 'day1' ({', '.join(ids)}); "
            "choose one with --recording."
        ]
        assert import_file(catalog, grid, recording="P02/day1.wav").imported == 1
        _, rows = catalog.rows("SELECT r.rel_path FROM segments JOIN recordings r USING (recording_id)")
        assert rows == [("P02/day1.wav",)]


def test_past_the_end_uses_what_validate_could_decode(small_tree, settings_for, tmp_path):
    settings = settings_for(small_tree)
    scan_and_validate(settings)
    with Catalog.open(settings.paths.catalog) as catalog:
        # as validate records a file whose decoder stopped early (a corrupt FLAC): 1.0 of the 2.5 s declared
        catalog.con.execute("UPDATE audio_stats SET duration_sec = 1.0 WHERE recording_id = 'P01_b'")
    path = _write(tmp_path / "a.csv", "recording,start_sec,end_sec,label\nP01_b,0.5,2.0,adult\nP01_b,0.2,0.9,adult\n")
    with pytest.raises(HomecatError, match=r"line 2: end_sec 2.000 is past the end of P01/P01_b.flac \(1.000 s\)"):
        _import(settings.paths.catalog, path)


# --------------------------------------------------------------------------- skip, re-import, duplicates


def test_skip_invalid_imports_the_rest_and_records_findings_until_fixed(catalog_path, tmp_path):
    bad = _write(tmp_path / "bad.csv", BAD_CSV)
    result = _import(catalog_path, bad, skip_invalid=True)
    assert (result.imported, result.skipped) == (2, 10)
    assert result.summary() == "imported 2 segments from bad.csv (10 skipped)"
    assert [r[:3] for r in _segments(catalog_path)] == [("P01_a", 0.5, 1.0), ("P01_a", 2.5, 3.0)]  # 3.005 clipped
    findings = _findings(catalog_path)
    assert {f[1:3] for f in findings} == {("invalid_segment", "warning")}
    assert sorted(f[3] for f in findings) == sorted(BAD_LINES[1:])
    by_line = {f[3].split(":")[1].strip(): f[0] for f in findings}
    assert by_line["line 3"] == "(unknown)" and by_line["line 4"] == "P01_a" and by_line["line 13"] == "notes"
    # Again: the same findings, not twice as many; another file's findings are its own.
    _import(catalog_path, bad, skip_invalid=True)
    other = _write(tmp_path / "other.csv", "recording,start_sec,end_sec,label\nP01_a,0,9,x\n")
    _import(catalog_path, other, skip_invalid=True)
    assert len(_findings(catalog_path)) == 11
    # Fixed: the file imports cleanly and its findings are gone.
    _write(bad, "recording,start_sec,end_sec,label\nP01_a,0.5,1.0,adult\n")
    assert _import(catalog_path, bad).skipped == 0
    assert [f[3] for f in _findings(catalog_path)] == [
        "other.csv: line 2: end_sec 9.000 is past the end of P01/P01_a.wav (3.000 s)."
    ]


def test_reimport_is_idempotent_and_a_new_label_keeps_the_id(catalog_path, tmp_path):
    path = _write(
        tmp_path / "a.csv",
        "recording,start_sec,end_sec,label\nP01_a,0.5,1.0,adult\nP01_a,1.5,2.0,infant\nP01_b,0,1,noise\n",
    )
    _import(catalog_path, path)
    first = _segments(catalog_path)
    elsewhere = tmp_path / "copy"
    elsewhere.mkdir()
    _write(elsewhere / "a.csv", path.read_text())
    assert _import(catalog_path, elsewhere / "a.csv").imported == 3  # the name, not the path, is the source
    second = _segments(catalog_path)
    assert [r[6] for r in second] == [r[6] for r in first] and len(second) == 3
    _write(path, path.read_text().replace("infant", "cry"))
    _import(catalog_path, path)
    third = {r[6]: r[3] for r in _segments(catalog_path)}
    assert sorted(third) == sorted(r[6] for r in first) and "cry" in third.values()


def test_identical_duplicates_are_kept_once(catalog_path, tmp_path):
    path = _write(
        tmp_path / "dup.csv",
        "recording,start_sec,end_sec,label\nP01_a,0.5,1.0,adult\nP01/P01_a.wav,0.5000001,1.0,adult\n",
    )
    result = _import(catalog_path, path)
    assert (result.imported, result.merged) == (1, 1)
    assert result.summary() == "imported 1 segments from dup.csv (0 skipped, 1 duplicate interval merged)"


def test_store_segments_is_the_library_entry_point(catalog_path):
    """What the ChildProject importer does: its own candidates, the same checks, one replacing store."""
    with Catalog.open(catalog_path) as catalog:
        index = RecordingIndex.load(catalog)
        checked = check_candidates(
            [
                Candidate("row 1", "P01_a", 500 / 1000, 900 / 1000, "CHI", "vtc"),
                Candidate("row 2", "P01_a", 2.0, 4.0, "FEM", "vtc"),
            ],
            index,
            "P01_a.rttm",
        )
        assert [p.message("P01_a.rttm") for p in checked.problems] == [
            "P01_a.rttm: row 2: end_sec 4.000 is past the end of P01/P01_a.wav (3.000 s)."
        ]
        assert store_segments(catalog, "P01_a.rttm", checked.rows) == 1
        assert store_segments(catalog, "P01_a.rttm", [SegmentRow("P01_b", 0.0, 1.0, "MAL", "vtc")] * 2) == 1
        _, rows = catalog.rows("SELECT recording_id, label FROM segments")
        assert rows == [("P01_b", "MAL")]
        with pytest.raises(HomecatError, match="has two labels, 'MAL' and 'FEM'"):
            store_segments(catalog, "x", [SegmentRow("P01_b", 0, 1, "MAL"), SegmentRow("P01_b", 0, 1, "FEM")])


# --------------------------------------------------------------------------- CLI and report


def test_cli_import_errors_skip_and_report(catalog_path, tmp_path):
    good = _write(
        tmp_path / "good.csv",
        "recording,start_sec,end_sec,label\nP01_a,0,1.5,adult\nP01_b,0,0.5,adult\nP02_a,0,1,infant\n"
        "P02_float,0,0.5,infant\nloose,0,0.36,adult\n",
    )
    bad = _write(tmp_path / "bad.csv", BAD_CSV)
    result = invoke(catalog_path, "segments", "import", str(good), str(bad))
    assert result.exit_code == 1
    assert result.stdout == "imported 5 segments from good.csv (0 skipped)\n"  # a bad file does not stop a good one
    assert result.stderr.splitlines() == [f"Error: {line}" for line in BAD_LINES]
    assert "Traceback" not in result.output

    result = invoke(catalog_path, "segments", "import", str(bad), "--skip-invalid")
    assert result.exit_code == 0
    assert result.stdout == "imported 2 segments from bad.csv (10 skipped)\n"
    assert "homecat report findings --code invalid_segment" in result.stderr

    result = invoke(catalog_path, "segments", "import", str(tmp_path / "missing.csv"))
    assert (
        result.exit_code == 1 and result.stderr == f"Error: There is no annotation file {tmp_path / 'missing.csv'}.\n"
    )

    result = invoke(catalog_path, "report", "segments", "--format", "json")
    assert result.exit_code == 0
    rows = {(r["tier"], r["label"], r["participant_id"]): r for r in json.loads(result.stdout)}
    assert list(rows) == [
        ("", "adult", "P01"),
        ("", "adult", "unknown"),
        ("", "adult", "(all)"),
        ("", "infant", "P01"),
        ("", "infant", "P02"),
        ("", "infant", "(all)"),
    ]
    # good.csv, plus bad.csv's two valid rows (P01_a adult 0.5-1.0 s, infant 2.5-3.0 s)
    assert (rows["", "adult", "P01"]["segments"], rows["", "adult", "P01"]["recordings"]) == (3, 2)
    assert rows["", "adult", "P01"]["hours"] == pytest.approx((1.5 + 0.5 + 0.5) / 3600, abs=1e-4)
    assert rows["", "adult", "P01"]["mean_sec"] == pytest.approx(2.5 / 3, abs=1e-3)
    total = rows["", "adult", "(all)"]
    assert (total["segments"], total["participants"], total["recordings"]) == (4, 2, 3)
    assert total["hours"] == pytest.approx(2.86 / 3600, abs=1e-4)
    assert rows["", "infant", "(all)"]["segments"] == 3 and rows["", "infant", "P02"]["segments"] == 2


def test_cli_same_file_name_twice_and_an_empty_catalog(catalog_path, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = _write(tmp_path / "a" / "x.csv", "recording,start_sec,end_sec,label\nP01_a,0,1,adult\n")
    two = _write(tmp_path / "b" / "x.csv", "recording,start_sec,end_sec,label\nP01_b,0,1,adult\n")
    result = invoke(catalog_path, "segments", "import", str(one), str(two))
    assert result.exit_code == 1 and "Several files are named x.csv" in result.stderr
    assert _segments(catalog_path) == []
    result = invoke(tmp_path / "empty.duckdb", "segments", "import", str(one))
    assert result.exit_code == 1 and "has no recordings to annotate: run 'homecat scan' first." in result.stderr


def test_many_intervals_past_one_recordings_end_are_one_line_naming_the_likely_cause(catalog_path, tmp_path):
    """A whole coding sheet for a longer recording: one line says so (not 37), other problems still listed."""
    rows = "".join(f"P01/P01_a.wav,{10 + i},{10.5 + i},adult\n" for i in range(37))  # lines 2-38, past 3.0 s
    bad = _write(tmp_path / "long.csv", "recording,start_sec,end_sec,label\n" + rows + "P01/P01_a.wav,1,0.5,adult\n")
    with pytest.raises(HomecatError) as caught:
        _import(catalog_path, bad)
    assert caught.value.lines[1:] == [
        "long.csv: 37 intervals end past the end of P01/P01_a.wav (3.000 s), from line 2 to line 38: is the file "
        "meant for another (longer) recording, or do its times need --offset-sec or another --time-unit?",
        "long.csv: line 39: end_sec 0.500 is not after start_sec 1.000.",
    ]
