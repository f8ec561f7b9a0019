"""Annotation files as the field writes them, each a small file in tests/data/annotations/ written from its
format's specification and checked against rows computed by hand: the missing-value rule on every path,
labels no export can carry, ELAN's untimed annotations, Praat's repeated tier names, CHAT, ALICE, VCM.
Real catalogs of real audio (small_tree)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from homecat.catalog import Catalog
from homecat.childproject import import_segments, scan_dataset
from homecat.cli import app
from homecat.errors import HomecatError
from homecat.segments import import_file
from homecat.segments_export import export_segments

DATA = Path(__file__).parent / "data" / "annotations"
runner = CliRunner()

# small_tree (conftest): P01/P01_a.wav 3.0 s, P01/P01_b.flac 2.5 s, P02/day1/P02_a.WAV 2.0 s,
# P02/P02_float.wav 2.0 s, loose.wav 2.0 s, P02/notes.wav unreadable.


def _segments(catalog_path: Path, source: str | None = None) -> list[tuple]:
    with Catalog.open(catalog_path, read_only=True) as catalog:
        _, rows = catalog.rows(
            "SELECT recording_id, round(start_sec, 6), round(end_sec, 6), label, tier FROM segments "
            "WHERE $source IS NULL OR source = $source ORDER BY recording_id, tier, start_sec",
            {"source": source},
        )
    return rows


def _findings(catalog_path: Path) -> list[str]:
    with Catalog.open(catalog_path, read_only=True) as catalog:
        _, rows = catalog.rows("SELECT message FROM findings WHERE stage = 'segments' ORDER BY message")
    return [r[0] for r in rows]


def _import(catalog_path: Path, path: Path, **kwargs):
    with Catalog.open(catalog_path) as catalog:
        return import_file(catalog, path, **kwargs)


def invoke(catalog_path: Path, *args: str):
    return runner.invoke(app, ["--catalog", str(catalog_path), *args], env={}, catch_exceptions=False)


def _copy(name: str, tmp_path: Path, as_name: str | None = None) -> Path:
    target = tmp_path / (as_name or name)
    shutil.copyfile(DATA / name, target)
    return target


# --------------------------------------------------------------------------- the missing-value rule

MISSING_LABELS = ["", "NA", "n/a", " NaN ", "None"]


def test_missing_labels_are_invalid_rows_in_a_csv(catalog_path, tmp_path):
    path = tmp_path / "coded.csv"
    lines = ["recording,start_sec,end_sec,label", "P01_a,0.0,0.5,CHI"]
    lines += [f"P01_a,{0.5 + 0.4 * i:.1f},{0.8 + 0.4 * i:.1f},{label}" for i, label in enumerate(MISSING_LABELS)]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(HomecatError) as caught:
        _import(catalog_path, path)
    assert caught.value.lines[1:] == [
        "coded.csv: line 3: the label is empty.",
        "coded.csv: line 4: the label 'NA' is a missing value, not a label.",
        "coded.csv: line 5: the label 'n/a' is a missing value, not a label.",
        "coded.csv: line 6: the label 'NaN' is a missing value, not a label.",
        "coded.csv: line 7: the label 'None' is a missing value, not a label.",
    ]
    result = _import(catalog_path, path, skip_invalid=True)
    assert (result.imported, result.skipped) == (1, 5)
    assert _segments(catalog_path) == [("P01_a", 0.0, 0.5, "CHI", "")]
    assert len(_findings(catalog_path)) == 5


def test_missing_labels_are_invalid_rows_in_a_childproject_set_too(small_tree, settings_for, tmp_path):
    from tests.test_childproject import write_annotations, write_dataset

    dataset = write_dataset(tmp_path / "dataset")
    rows = [(0, 500, "CHI", "")] + [
        (1000 + 200 * i, 1100 + 200 * i, label, "") for i, label in enumerate(MISSING_LABELS)
    ]
    write_annotations(dataset, [("vtc", "C01/rec1.wav", 0, 3000, "C01/rec1_0_3000.csv", rows)])
    settings = settings_for(None)
    with Catalog.open(settings.paths.catalog) as catalog:
        scan_dataset(catalog, settings.data, dataset)
        with pytest.raises(HomecatError) as caught:
            import_segments(catalog, dataset, "vtc")
        result = import_segments(catalog, dataset, "vtc", skip_invalid=True)
    reasons = [line.split(": ", 2)[-1] for line in caught.value.lines[1:]]
    assert reasons == [
        "the label is empty.",
        "the label 'NA' is a missing value, not a label.",
        "the label 'n/a' is a missing value, not a label.",
        "the label 'NaN' is a missing value, not a label.",
        "the label 'None' is a missing value, not a label.",
    ]
    assert (result.imported, result.skipped_invalid) == (1, 5)


def test_participants_and_tiers_follow_the_same_rule(catalog_path, tmp_path):
    from homecat.participants import read_participants

    path = tmp_path / "participants.csv"
    path.write_text("participant_id,dob,sex\nP01,n/a,NULL\nP02,2020-01-01,f\n")
    rows = read_participants(path)
    assert [(r.participant_id, r.dob, r.sex) for r in rows][0] == ("P01", None, None)
    table = tmp_path / "tiers.csv"
    table.write_text("recording,start_sec,end_sec,label,tier\nP01_a,0,1,x,NA\n")
    _import(catalog_path, table)
    assert _segments(catalog_path) == [("P01_a", 0.0, 1.0, "x", "")]


# --------------------------------------------------------------------------- hostile values (issue 26)


def test_a_control_character_in_a_label_or_tier_is_an_invalid_row(catalog_path, tmp_path):
    path = tmp_path / "nul.csv"
    path.write_bytes(
        b"recording,start_sec,end_sec,label,tier\nP01_a,0,1,ba\x00by,t\nP01_a,1,2,ok,x\x1b[31m\nP01_a,2,3,fine,t\n"
    )
    with pytest.raises(HomecatError) as caught:
        _import(catalog_path, path)
    assert caught.value.lines[1:] == [
        "nul.csv: line 2: the label holds the control character U+0000, which no annotation file can carry.",
        "nul.csv: line 3: the tier name holds the control character U+001B, which no annotation file can carry.",
    ]
    assert _import(catalog_path, path, skip_invalid=True).imported == 1


def test_every_label_an_import_accepts_survives_an_eaf_export_and_reimport(catalog_path, tmp_path):
    labels = ['a & <b> "c"', "two\nlines", "bébé 👶", "tab\there", "'quoted'", "x" * 300]
    path = tmp_path / "odd.csv"
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["recording", "start_sec", "end_sec", "label", "tier"])
        writer.writerow(["P01_a", 0.0, 0.1234, "CRLF\r\nline", "tier & <x>"])
        for i, label in enumerate(labels):
            writer.writerow(["P01_a", 0.2 + 0.3 * i, 0.4 + 0.3 * i, label, "speaker ü"])
    _import(catalog_path, path)
    before = _segments(catalog_path)
    assert ("P01_a", 0.0, 0.123, "CRLF\nline", "tier & <x>") in [(*r[:2], round(r[2], 3), *r[3:]) for r in before]
    with Catalog.open(catalog_path, read_only=True) as catalog:
        (written,) = export_segments(catalog, tmp_path / "eaf", "eaf")
    _import(catalog_path, written)  # P01_a.eaf: matched by its stem
    assert _segments(catalog_path, "P01_a.eaf") == [(*r[:2], round(r[2], 3), *r[3:]) for r in before]


def test_a_frame_rate_out_of_bounds_is_one_sentence(catalog_path, tmp_path):
    path = tmp_path / "frames.csv"
    path.write_text("recording,start_sec,end_sec,label\nP01_a,0,10,x\n")
    for rate in ["1e9", "1e308", "nan", "inf", "0.5", "-100"]:
        result = invoke(catalog_path, "segments", "import", str(path), "--time-unit", "frames", "--frame-rate", rate)
        assert result.exit_code == 1 and "Traceback" not in result.output, rate
        assert "must be a number of frames per second from 1 to 100,000" in result.stderr, (rate, result.stderr)
    result = invoke(catalog_path, "segments", "import", str(path), "--time-unit", "frames", "--frame-rate", "100")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("origin", ["nan", "inf", "-500", "soon"])
def test_an_eaf_time_origin_that_is_not_a_time_is_one_sentence(catalog_path, tmp_path, origin):
    path = tmp_path / "P01_a.eaf"
    text = (DATA / "origin.eaf").read_text(encoding="utf-8").replace('TIME_ORIGIN="1500"', f'TIME_ORIGIN="{origin}"')
    path.write_text(text, encoding="utf-8")
    result = invoke(catalog_path, "segments", "import", str(path))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.startswith(
        f"Error: P01_a.eaf: the TIME_ORIGIN '{origin}' of the media file:///data/P01/P01_a.wav is not a number "
        "of milliseconds (0 or more)."
    ), result.stderr


# --------------------------------------------------------------------------- ELAN and Praat


def _with_parents(catalog_path: Path) -> list[tuple]:
    with Catalog.open(catalog_path, read_only=True) as catalog:
        _, rows = catalog.rows(
            "SELECT tier, parent_tier, round(start_sec, 6), round(end_sec, 6), label FROM segments "
            "ORDER BY tier, start_sec"
        )
    return rows


def test_elan_untimed_annotations_are_placed_as_elan_places_them(catalog_path, tmp_path):
    result = _import(catalog_path, _copy("subdivisions.eaf", tmp_path, "P01_a.eaf"))
    assert (result.imported, result.skipped) == (14, 0)
    assert result.notes == (
        "P01_a.eaf: 2 time slots without a time value placed between their aligned neighbours, as ELAN shows them.",
    )
    assert _with_parents(catalog_path) == [
        ("events", "utterance", 1.6, 1.9, "laugh"),  # Included_In: its own aligned slots
        ("gloss", "words", 0.9, 1.2, "dog.DIM"),  # its word's interval (Symbolic_Association)
        ("syllables", "utterance", 1.5, 1.75, "mo"),  # unaligned ts5: halfway between ts3 (1500) and ts7 (2000)
        ("syllables", "utterance", 1.75, 2.0, "re"),
        ("syllables", "utterance", 2.0, 2.35, "jui"),  # unaligned ts6: halfway between ts7 and ts4 (2700)
        ("syllables", "utterance", 2.35, 2.7, "ce"),
        ("utterance", "", 0.0, 1.2, "look at the doggie"),
        ("utterance", "", 1.5, 2.7, "more juice"),
        ("words", "utterance", 0.0, 0.3, "look"),  # 0-1200 ms in 4 equal parts, in PREVIOUS_ANNOTATION order
        ("words", "utterance", 0.3, 0.6, "at"),
        ("words", "utterance", 0.6, 0.9, "the"),
        ("words", "utterance", 0.9, 1.2, "doggie"),
        ("words", "utterance", 1.5, 2.1, "more"),
        ("words", "utterance", 2.1, 2.7, "juice"),
    ]
    _import(catalog_path, _copy("subdivisions.eaf", tmp_path, "P01_a.eaf"), tiers=["gloss"])  # a parent not chosen
    assert _with_parents(catalog_path) == [("gloss", "words", 0.9, 1.2, "dog.DIM")]


def test_praat_tiers_of_one_name_are_kept_apart(catalog_path, tmp_path):
    result = _import(catalog_path, _copy("two_tiers.TextGrid", tmp_path, "P01_b.TextGrid"))
    assert result.notes == ("P01_b.TextGrid: tiers that share a name are kept apart as 'speaker#2' (in file order).",)
    assert _segments(catalog_path) == [
        ("P01_b", 0.5, 1.25, "MOT", "speaker"),
        ("P01_b", 0.0, 0.5, "MOT", "speaker#2"),
        ("P01_b", 0.5, 2.5, "CHI", "speaker#2"),
    ]
    _import(catalog_path, tmp_path / "P01_b.TextGrid", tiers=["speaker#2"])
    assert [r[4] for r in _segments(catalog_path)] == ["speaker#2", "speaker#2"]
    result = invoke(catalog_path, "segments", "import", str(tmp_path / "P01_b.TextGrid"))
    assert result.exit_code == 0 and "note: P01_b.TextGrid: tiers that share a name" in result.stderr


def test_an_eaf_finds_its_recording_by_its_media_url_in_a_subfolder(catalog_path, tmp_path):
    path = tmp_path / "session 4 coding.eaf"  # a stem no recording has
    text = (DATA / "origin.eaf").read_text(encoding="utf-8")
    text = text.replace('TIME_ORIGIN="1500"', 'RELATIVE_MEDIA_URL="../audio/P02/day1/P02_a.WAV"')
    path.write_text(text.replace("file:///data/P01/P01_a.wav", "file:///mnt/lab%20data/P02/day1/P02_a.WAV"))
    _import(catalog_path, path)
    assert _segments(catalog_path) == [("P02_a", 0.1, 0.6, "adult", "events")]
    # a media URL naming no catalogued file falls back to the stem; two recordings are a question
    path.write_text(
        text.replace("file:///data/P01/P01_a.wav", "file:///video/cam.mp4").replace("P02/day1/P02_a.WAV", "x.mp4")
    )
    with pytest.raises(HomecatError, match="no recording in the catalog has the id or file stem 'session 4 coding'"):
        _import(catalog_path, path)
    second = '<MEDIA_DESCRIPTOR MEDIA_URL="file:///data/P01/P01_b.flac" MIME_TYPE="audio/x-flac"/>\n'
    path.write_text(text.replace("</HEADER>", second + "</HEADER>"))
    with pytest.raises(
        HomecatError, match=r"its media files are several recordings \(P01/P01_b.flac, P02/day1/P02_a.WAV\)"
    ):
        _import(catalog_path, path)


def test_label_from_tier_labels_per_speaker_tiers_by_their_name(catalog_path, tmp_path):
    import pympi

    path = tmp_path / "P01_a.eaf"
    eaf = pympi.Elan.Eaf(author="test")
    for tier in ("MOT", "CHI"):
        eaf.add_tier(tier)
    eaf.remove_tier("default")
    eaf.add_annotation("MOT", 100, 900, "look at that")
    eaf.add_annotation("MOT", 1000, 1400, "")  # coded as speech, not transcribed
    eaf.add_annotation("CHI", 1500, 1800, "ba")
    pympi.Elan.to_eaf(str(path), eaf)
    result = invoke(catalog_path, "segments", "import", str(path), "--label-from-tier")
    assert result.exit_code == 0, result.output
    assert _segments(catalog_path) == [
        ("P01_a", 1.5, 1.8, "CHI", "CHI"),
        ("P01_a", 0.1, 0.9, "MOT", "MOT"),
        ("P01_a", 1.0, 1.4, "MOT", "MOT"),
    ]


# --------------------------------------------------------------------------- CHAT, ALICE, VCM


def test_a_chat_transcript_gives_one_segment_per_bulleted_utterance(catalog_path, tmp_path):
    path = _copy("bullets.cha", tmp_path, "P01_a.cha")
    result = _import(catalog_path, path)
    assert result.notes == (
        "P01_a.cha: 1 utterance without a time bullet was left out (a bullet is what places an utterance in the "
        "audio).",
    )
    assert _segments(catalog_path) == [
        ("P01_a", 1.3, 1.75, "CHI", "CHI"),
        ("P01_a", 2.0, 2.9, "CHI", "CHI"),  # its bullet ends the continuation line
        ("P01_a", 0.1, 1.2, "MOT", "MOT"),
        ("P01_a", 2.95, 3.0, "MOT", "MOT"),
    ]
    _import(catalog_path, path, tiers=["MOT"])
    assert [r[3] for r in _segments(catalog_path)] == ["MOT", "MOT"]
    with pytest.raises(HomecatError, match=r"P01_a.cha has no tier 'FAT' \(its tiers: 'CHI', 'MOT'\)"):
        _import(catalog_path, path, tiers=["FAT"])
    renamed = _copy("bullets.cha", tmp_path, "session 1.cha")  # its @Media names P01_a
    assert _import(catalog_path, renamed).imported == 4 and _segments(catalog_path, "session 1.cha")[0][0] == "P01_a"
    (tmp_path / "P01_b.cha").write_text("not a transcript\n")
    with pytest.raises(HomecatError, match="P01_b.cha has no utterances"):
        _import(catalog_path, tmp_path / "P01_b.cha")


ALICE_ROWS = [  # by hand: the file name's times are tenths of a ms (ChildProject divides them by 10 for ms)
    ("P01_a", 0.1, 1.2, "12", "phonemes"),
    ("P01_a", 0.1, 1.2, "5", "syllables"),
    ("P01_a", 0.1, 1.2, "3", "words"),
    ("P01_b", 0.5, 1.0, "4", "phonemes"),
    ("P01_b", 0.5, 1.0, "2", "syllables"),
    ("P01_b", 0.5, 1.0, "1", "words"),
    ("P02_a", 0.0, 2.0, "20", "phonemes"),
    ("P02_a", 0.0, 2.0, "8", "syllables"),
    ("P02_a", 0.0, 2.0, "5", "words"),
]


def test_alice_output_gives_the_counts_of_each_utterance(catalog_path, tmp_path):
    path = _copy("ALICE_output_utterances.txt", tmp_path)
    result = _import(catalog_path, path)
    assert (result.imported, result.skipped) == (9, 0)
    assert _segments(catalog_path) == ALICE_ROWS
    _import(catalog_path, path, tiers=["words"])
    assert _segments(catalog_path) == [r for r in ALICE_ROWS if r[4] == "words"]
    bad = tmp_path / "ALICE_output_bad.txt"
    bad.write_text(
        (DATA / "ALICE_output_utterances.txt").read_text()
        + "P01_a_00030000_00029000.wav\t3\t1\t1\nnobody_00000000_00001000.wav\t1\t1\tmany\nP01_a_1_2.wav 1 1\n"
    )
    with pytest.raises(HomecatError) as caught:
        _import(catalog_path, bad)
    # the unknown recording's own wording belongs to the recording lookup (RecordingIndex)
    shown = [line.split(" (neither")[0].split(" (no rel_path")[0] for line in caught.value.lines[1:]]
    assert shown == [
        "ALICE_output_bad.txt: line 4 (3.000-2.900 s): the segment ends before it starts.",
        "ALICE_output_bad.txt: line 5 phonemes (0.000-0.100 s): unknown recording 'nobody'",
        "ALICE_output_bad.txt: line 5 syllables (0.000-0.100 s): unknown recording 'nobody'",
        "ALICE_output_bad.txt: line 5 words (0.000-0.100 s): the words count 'many' is not a number (0 or more); "
        "unknown recording 'nobody'",
        "ALICE_output_bad.txt: line 6: expected 4 fields (segment file, phonemes, syllables, words), found 3.",
    ]


VCM_ROWS = [  # by hand from ChildProject's VcmConverter tables
    ("P01_a", 0.1, 0.6, "CHI", "speaker_type"),  # CNS: the key child
    ("P01_a", 0.7, 1.0, "FEM", "speaker_type"),
    ("P01_a", 1.7, 1.95, "CHI", "speaker_type"),  # CRY
    ("P01_a", 0.1, 0.6, "C", "vcm_type"),
    ("P01_a", 1.2, 1.6, "J", "vcm_type"),  # OTH: a vcm_type, no speaker_type (as ChildProject has it)
    ("P01_a", 1.7, 1.95, "Y", "vcm_type"),
    ("P01_b", 0.0, 1.0, "CHI", "speaker_type"),  # NCS
    ("P01_b", 1.1, 1.5, "OCH", "speaker_type"),  # CHI: another child
    ("P01_b", 0.0, 1.0, "N", "vcm_type"),
]


def test_a_vcm_rttm_gives_vcm_types_and_keeps_speaker_types(catalog_path, tmp_path):
    path = _copy("P01_a.vcm", tmp_path)
    assert _import(catalog_path, path).imported == 9
    assert _segments(catalog_path) == VCM_ROWS
    path.write_text(path.read_text() + "SPEAKER P01_a 1 2.0 0.5 <NA> <NA> KCHI <NA> <NA>\n")
    with pytest.raises(HomecatError, match=r"line 7: 'KCHI' is not a VCM class \(CHI, CNS, CRY, FEM, MAL, NCS, OTH\)"):
        _import(catalog_path, path)
    result = invoke(catalog_path, "segments", "import", str(path), "--skip-invalid", "--tier", "vcm_type")
    assert result.exit_code == 0 and "imported 4 segments from P01_a.vcm (1 skipped)" in result.stdout


def _childproject_set(dataset: Path, set_name: str, fmt: str, files: dict[str, list[dict]]) -> None:
    """A set as ChildProject's importer leaves it: annotations.csv rows and converted CSVs (whole recordings)."""
    import csv

    index = dataset / "metadata" / "annotations.csv"
    rows = list(csv.DictReader(open(index))) if index.exists() else []
    for recording, segments in files.items():
        converted = f"{Path(recording).stem}_0_3000.csv"
        rows.append(
            {
                "set": set_name,
                "recording_filename": recording,
                "time_seek": 0,
                "range_onset": 0,
                "range_offset": 3000,
                "raw_filename": "raw",
                "format": fmt,
                "filter": "",
                "annotation_filename": converted,
                "imported_at": "2024-01-02 10:00:00",
                "package_version": "0.4.6",
                "error": "",
                "merged_from": "",
            }
        )
        path = dataset / "annotations" / set_name / "converted" / converted
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, list(segments[0]))
            writer.writeheader()
            writer.writerows(segments)
    with open(index, "w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_chat_alice_and_vcm_sets_of_a_childproject_dataset_give_the_same_rows(settings_for, tmp_path):
    """ChildProject's converters' CSVs of the same files (times in ms; NA where a column has no value)."""
    from tests.conftest import write_tone
    from tests.test_childproject import _write_csv

    dataset = tmp_path / "dataset"
    _write_csv(
        dataset / "metadata" / "children.csv", [{"experiment": "t", "child_id": "C1", "child_dob": "2020-01-01"}]
    )
    recordings = [
        {
            "experiment": "t",
            "child_id": "C1",
            "date_iso": "2021-01-01",
            "start_time": "09:00",
            "recording_device_type": "usb",
            "recording_filename": name,
        }
        for name in ("P01_a.wav", "P01_b.wav")
    ]
    _write_csv(dataset / "metadata" / "recordings.csv", recordings)
    for name in ("P01_a.wav", "P01_b.wav"):
        write_tone(dataset / "recordings" / "raw" / name, 3.0)
    vcm = {  # VcmConverter: speaker_type and vcm_type of each line of P01_a.vcm
        "P01_a.wav": [
            {"segment_onset": 100, "segment_offset": 600, "speaker_type": "CHI", "vcm_type": "C"},
            {"segment_onset": 700, "segment_offset": 1000, "speaker_type": "FEM", "vcm_type": "NA"},
            {"segment_onset": 1200, "segment_offset": 1600, "speaker_type": "NA", "vcm_type": "J"},
            {"segment_onset": 1700, "segment_offset": 1950, "speaker_type": "CHI", "vcm_type": "Y"},
        ],
        "P01_b.wav": [
            {"segment_onset": 0, "segment_offset": 1000, "speaker_type": "CHI", "vcm_type": "N"},
            {"segment_onset": 1100, "segment_offset": 1500, "speaker_type": "OCH", "vcm_type": "NA"},
        ],
    }
    alice = {  # AliceConverter: the counts of each line
        "P01_a.wav": [{"segment_onset": 100.0, "segment_offset": 1200.0, "phonemes": 12, "syllables": 5, "words": 3}],
        "P01_b.wav": [{"segment_onset": 500.0, "segment_offset": 1000.0, "phonemes": 4, "syllables": 2, "words": 1}],
    }
    chat = {  # ChatConverter: bulleted utterances only, speaker_id the speaker code
        "P01_a.wav": [
            {"segment_onset": 100, "segment_offset": 1200, "speaker_id": "MOT", "speaker_type": "FEM"},
            {"segment_onset": 1300, "segment_offset": 1750, "speaker_id": "CHI", "speaker_type": "CHI"},
            {"segment_onset": 2000, "segment_offset": 2900, "speaker_id": "CHI", "speaker_type": "CHI"},
            {"segment_onset": 2950, "segment_offset": 3000, "speaker_id": "MOT", "speaker_type": "FEM"},
        ]
    }
    _childproject_set(dataset, "vcm", "vcm_rttm", vcm)
    _childproject_set(dataset, "alice", "alice", alice)
    _childproject_set(dataset, "chat", "cha", chat)
    settings = settings_for(None)
    with Catalog.open(settings.paths.catalog) as catalog:
        scan_dataset(catalog, settings.data, dataset)
        for column in ("vcm_type", "speaker_type"):
            import_segments(catalog, dataset, "vcm", label_column=column, skip_invalid=True)  # NA: not a label
        for column in ("phonemes", "syllables", "words"):
            import_segments(catalog, dataset, "alice", label_column=column)
        import_segments(catalog, dataset, "chat", label_column="speaker_id")
        _, rows = catalog.rows(
            "SELECT split_part(source, ':', 2), recording_id, round(start_sec, 6), round(end_sec, 6), label, tier "
            "FROM segments ORDER BY ALL"
        )
    by_set = {name: sorted(tuple(r[1:]) for r in rows if r[0] == name) for name in ("vcm", "alice", "chat")}
    assert by_set["vcm"] == sorted(VCM_ROWS)
    assert by_set["alice"] == sorted(r for r in ALICE_ROWS if r[0] != "P02_a")
    chat_direct = [
        ("P01_a", 0.1, 1.2, "MOT"),
        ("P01_a", 1.3, 1.75, "CHI"),
        ("P01_a", 2.0, 2.9, "CHI"),
        ("P01_a", 2.95, 3.0, "MOT"),
    ]  # as the .cha imports directly, in tier speaker_id
    assert by_set["chat"] == sorted((*r, "speaker_id") for r in chat_direct)


def test_an_export_refuses_a_label_stored_before_imports_refused_it(catalog_path, tmp_path):
    from homecat.segments import SegmentRow, store_segments

    with Catalog.open(catalog_path) as catalog:  # what an older homecat stored from a CSV with a NUL byte
        store_segments(catalog, "old.csv", [SegmentRow("P01_a", 0.0, 1.0, "ba\x00by", "t")])
    for fmt in ("eaf", "textgrid"):
        result = invoke(catalog_path, "segments", "export", "--format", fmt, "-o", str(tmp_path / fmt))
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert (
            "A segment of P01_a at 0.000-1.000 s cannot be exported: the label holds the control character U+0000"
            in (result.stderr)
        )
        assert not list((tmp_path / fmt).rglob("*.*"))
