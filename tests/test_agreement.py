"""`homecat report activity --against SOURCE`: the VAD the crops use against human coding, second by second."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from homecat.catalog import Catalog
from homecat.cli import app
from tests.catalog_helpers import scan_and_validate


@pytest.fixture
def coded(small_tree, settings_for, tmp_path):
    """P01_a (3.0 s) coded by hand (adult 0-1 s, infant 2-2.5 s) and by a voice-type classifier (vtc)."""
    settings = settings_for(small_tree)
    scan_and_validate(settings)
    catalog = str(settings.paths.catalog)
    csv = tmp_path / "coded.csv"
    csv.write_text(
        "recording,start_sec,end_sec,label\nP01_a,0.0,1.0,adult\nP01_a,0.5,0.8,adult\nP01_a,2.0,2.5,infant\n"
    )
    rttm = tmp_path / "vtc.rttm"
    rttm.write_text(
        "SPEAKER P01_a 1 0.5 1.0 <NA> <NA> FEM <NA> <NA>\nSPEAKER P01_a 1 2.0 0.2 <NA> <NA> KCHI <NA> <NA>\n"
    )
    for args in (["segments", "import", str(csv)], ["vad", "import", str(rttm), "--source", "vtc"]):
        assert CliRunner().invoke(app, ["--catalog", catalog, *args]).exit_code == 0
    return catalog


def _agreement(catalog: str, *args: str, **env: str) -> list[dict]:
    result = CliRunner().invoke(app, ["--catalog", catalog, "report", "activity", *args, "-f", "json"], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_precision_recall_and_hours_against_the_coding(coded):
    recording, total = _agreement(coded, "--against", "coded.csv", HOMECAT_SPEECH_SOURCE="vtc")
    # reference 1.5 s (overlapping rows once), system 1.2 s, both 0.7 s, judged alike 3 - 1.5 - 1.2 + 1.4 = 1.7 s
    assert recording == {
        "recording": "P01/P01_a.wav",
        "scope_h": round(3 / 3600, 4),
        "reference_speech_h": round(1.5 / 3600, 4),
        "system_speech_h": round(1.2 / 3600, 4),
        "both_h": round(0.7 / 3600, 4),
        "precision": 0.583,
        "recall": 0.467,
        "f1": round(2 * 0.583 * 0.467 / (0.583 + 0.467), 3),
        "agreement": 0.567,
    }
    assert total["recording"] == "(all)" and total["precision"] == 0.583
    # crops.speech_labels chooses the system's labels, as for crops: FEM alone is 1.0 s, 0.5 s of it coded
    (recording, _) = _agreement(
        coded, "--against", "coded.csv", HOMECAT_SPEECH_SOURCE="vtc", HOMECAT_SPEECH_LABELS="[FEM]"
    )
    assert (recording["precision"], recording["recall"]) == (0.5, 0.333)


def test_a_reference_with_annotated_ranges_is_judged_only_there(coded):
    with Catalog.open(coded) as catalog:  # what a ChildProject set import stores: the coded stretch 0-2.2 s
        catalog.con.execute(
            "INSERT INTO annotated_ranges VALUES ('speech', 'vtc', 'P01_a', 0.0, 2.2, current_timestamp)"
        )
    # vtc's rows as the reference, judged inside 0-2.2 s only, against crops.speech_source's default (silero: no rows)
    (recording, _) = _agreement(coded, "--against", "vtc")
    assert recording["scope_h"] == round(2.2 / 3600, 4) and recording["system_speech_h"] == 0.0
    assert recording["recall"] == 0.0 and recording["precision"] is None


def test_an_unknown_reference_is_one_sentence_naming_the_sources(coded):
    result = CliRunner().invoke(app, ["--catalog", coded, "report", "activity", "--against", "nope.csv"])
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: No segments or speech rows have the source 'nope.csv'; the sources are coded.csv (segments), "
        "vtc (speech).\n"
    )


def test_activity_before_the_split_says_why_there_are_no_crops(coded, tmp_path):
    plot = tmp_path / "activity.png"
    result = CliRunner().invoke(app, ["--catalog", coded, "report", "activity", "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    assert "no recording is in a split yet" in result.stderr and "run 'homecat split'" in result.stderr
    assert "((none))" not in result.stdout and plot.stat().st_size > 10_000
