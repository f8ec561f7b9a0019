"""Age, sex and site: `homecat participants import`, ages at recording in reports, and splits stratified by
age band (real audio, real catalogs)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from homecat.catalog import Catalog
from homecat.cli import app
from tests.catalog_helpers import scan_and_validate
from tests.conftest import write_tone
from tests.test_annotations import ITS_SEGMENTS, write_its

runner = CliRunner()


def invoke(catalog_path: Path, *args: str):
    return runner.invoke(app, ["--catalog", str(catalog_path), *args], env={}, catch_exceptions=False)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_ages_from_a_participants_file_and_a_lena_clock_show_in_reports(small_tree, settings_for, tmp_path):
    settings = settings_for(small_tree)
    scan_and_validate(settings)
    catalog = settings.paths.catalog
    bad = _write(tmp_path / "bad.csv", "child_id,dob,age_months,sex\nP01,2018-13-01,,F\nP02,,-3,M\n,,,\n")
    result = invoke(catalog, "participants", "import", str(bad))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: bad.csv has 2 invalid line(s), so nothing from it was imported:",
        "Error: bad.csv: line 2: dob '2018-13-01' is not a date (YYYY-MM-DD).",
        "Error: bad.csv: line 3: age_months '-3' is not a number of months (0 or more).",
    ]
    # P01: a date of birth, and its recording P01_a dated by a LENA clock -> 12 months; P02: an age as given
    good = _write(
        tmp_path / "children.csv",
        "child_id,dob,age_months,sex,site\nP01,2018-03-01,,F,north\nP02,,7.5,M,south\nP09,2017-01-01,,F,north\n",
    )
    result = invoke(catalog, "participants", "import", str(good), "-f", "json")
    assert result.exit_code == 0, result.output
    assert [r["count"] for r in json.loads(result.stdout)] == [3, 3, 1]  # P09 has no recordings yet
    assert invoke(catalog, "segments", "import", str(write_its(tmp_path / "P01_a.its", ITS_SEGMENTS))).exit_code == 0

    report = {
        r["participant_id"]: r for r in json.loads(invoke(catalog, "report", "participants", "-f", "json").stdout)
    }
    assert (report["P01"]["age_months_min"], report["P01"]["age_months_max"]) == (12.1, 12.1)  # P01_b: no date
    assert (report["P01"]["sex"], report["P01"]["site"]) == ("F", "north")
    assert (report["P02"]["age_months_min"], report["P02"]["sex"], report["P02"]["site"]) == (7.5, "M", "south")
    assert report["unknown"]["age_months_min"] is None and report["unknown"]["site"] is None

    activity = json.loads(invoke(catalog, "report", "activity", "-f", "json").stdout)
    bands = {r["participant_id"]: r["age_bands"] for r in activity}
    assert bands == {"P01": "12-18 months", "P02": "06-12 months", "unknown": None}


def test_split_stratified_by_age_band_puts_every_band_in_dev(tmp_path, settings_for):
    """Eight families of equal hours, four infants and four toddlers; dev takes a quarter of the hours."""
    root = tmp_path / "raw"
    for i in range(8):
        write_tone(root / f"F{i}" / f"F{i}_a.wav", 2.0, sample_rate=8000)
    lines = ["participant_id,age_months"] + [f"F{i},{8 if i < 4 else 30}" for i in range(8)]
    children = _write(tmp_path / "children.csv", "\n".join(lines) + "\n")

    settings = settings_for(root, **{"split.dev_fraction": 0.25})
    scan_and_validate(settings)
    assert invoke(settings.paths.catalog, "participants", "import", str(children)).exit_code == 0
    config = _write(tmp_path / "dev25.yaml", "split:\n  dev_fraction: 0.25\n")

    def dev_bands(seed: int, stratify: bool) -> list[str]:
        catalog = shutil.copy(settings.paths.catalog, tmp_path / f"c{seed}{stratify}.duckdb")  # split afresh
        args = ["split", "--seed", str(seed)] + (["--stratify-by", "age-band"] if stratify else [])
        result = runner.invoke(app, ["--catalog", str(catalog), "--config", str(config), *args], env={})
        assert result.exit_code == 0, result.output
        with Catalog.open(catalog, read_only=True) as c:
            _, rows = c.rows(
                "SELECT g.age_band FROM splits JOIN recording_ages AS g USING (recording_id) "
                "WHERE split = 'dev' ORDER BY 1"
            )
        return [r[0] for r in rows]

    assert all(dev_bands(seed, True) == ["06-12 months", "24-36 months"] for seed in range(3))
    # unstratified, some seed puts two families of one band in dev (that is what stratifying prevents)
    assert any(len(set(dev_bands(seed, False))) == 1 for seed in range(6))


def test_a_date_of_birth_after_the_recording_date_gives_no_age_and_no_band(catalog_path, tmp_path):
    """Issue 26: never a negative age nor band 00-06; the refusal names child, recording and both dates."""
    its = write_its(tmp_path / "P01_a.its", ITS_SEGMENTS)  # dates P01/P01_a.wav 2019-03-04 (LENA clock)

    def ages() -> list[tuple]:
        with Catalog.open(catalog_path, read_only=True) as c:
            return c.rows(
                "SELECT age_months, age_band, age_missing_because FROM recording_ages WHERE recording_id = 'P01_a'"
            )[1]

    # the date of birth arrives first, the recording date later: the view gives no age and says why
    later = _write(tmp_path / "later.csv", "child_id,dob\nP01,2019-06-01\n")
    assert invoke(catalog_path, "participants", "import", str(later)).exit_code == 0
    assert invoke(catalog_path, "segments", "import", str(its)).exit_code == 0
    assert ages() == [(None, None, "date of birth 2019-06-01 is after the recording date 2019-03-04")]
    # the recording date is known first: the participants file is refused, naming both
    result = invoke(
        catalog_path, "participants", "import", str(_write(tmp_path / "p.csv", "id,dob\nP02,NA\nP01,2019-03-05\n"))
    )
    assert result.exit_code == 1
    assert result.stderr.splitlines()[1:] == [
        "Error: p.csv: line 3: participant 'P01' has the date of birth 2019-03-05, after the date 2019-03-04 of its "
        "recording P01/P01_a.wav: an age cannot be negative."
    ]
    with Catalog.open(catalog_path, read_only=True) as c:  # nothing of the file was imported
        assert c.rows("SELECT participant_id, strftime(dob, '%Y-%m-%d') FROM participants")[1] == [
            ("P01", "2019-06-01")
        ]
    assert (
        invoke(
            catalog_path, "participants", "import", str(_write(tmp_path / "ok.csv", "id,dob\nP01,2019-03-04\n"))
        ).exit_code
        == 0
    )
    assert ages() == [(0.0, "00-06 months", None)]  # born the day of the recording: age 0
