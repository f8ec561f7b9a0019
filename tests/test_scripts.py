"""The stage wrappers in scripts/ run in the environment the user activated and install nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import write_tone

REPO = Path(__file__).resolve().parent.parent


def _copy_scripts(tmp: Path) -> Path:
    """A copy of scripts/ in an otherwise empty folder: whatever a wrapper creates there is visible."""
    shutil.copytree(REPO / "scripts", tmp / "scripts")
    return tmp / "scripts"


def _env(tmp: Path, path: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("HOMECAT_", "VIRTUAL_ENV"))}
    return {**keep, "PATH": path, "PYTHONPATH": str(REPO), "HOMECAT_CATALOG": str(tmp / "c.duckdb")}


def test_a_wrapper_uses_the_active_environment_and_creates_no_venv(tmp_path):
    scripts = _copy_scripts(tmp_path / "repo")
    write_tone(tmp_path / "raw" / "P01" / "a.wav", 1.0)
    env = {**_env(tmp_path, f"{Path(sys.executable).parent}:/usr/bin:/bin"), "EXPORT_DIR": str(tmp_path / "export")}
    done = subprocess.run(
        ["bash", str(scripts / "run_ingestion.sh"), "--root", str(tmp_path / "raw")],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "export" / "raw_audio_manifest.parquet").is_file()
    assert not (tmp_path / "repo" / ".venv").exists()


def test_a_wrapper_without_homecat_on_path_stops_with_one_sentence(tmp_path):
    scripts = _copy_scripts(tmp_path / "repo")
    done = subprocess.run(
        ["bash", str(scripts / "run_validation.sh")], env=_env(tmp_path, "/usr/bin:/bin"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 127
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "'homecat' is not on PATH" in lines[0] and "activate" in lines[0], done.stderr
    assert not (tmp_path / "repo" / ".venv").exists()
