"""dvc.yaml: every stage calls a script that exists, and its outs are exactly what that script writes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from homecat.demo import make_demo_corpus
from homecat.settings import load_settings

REPO = Path(__file__).resolve().parent.parent
STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def _outs(stage: str) -> list[str]:
    return [next(iter(o)) if isinstance(o, dict) else o for o in STAGES[stage].get("outs", [])]


def test_stages_run_in_order_and_call_existing_scripts():
    assert list(STAGES) == ["ingestion", "validation", "transformation", "training"]
    for name, stage in STAGES.items():
        words = stage["cmd"].split()
        assert words[0] == "bash" and (REPO / words[1]).is_file(), f"stage {name}: {stage['cmd']}"
        for dep in stage.get("deps", []):  # each dep is an out of an earlier stage, never raw audio
            assert any(dep in _outs(earlier) for earlier in list(STAGES)[: list(STAGES).index(name)]), dep


def test_training_out_is_where_runs_are_written():
    from homecat.train import default_output_dir

    run_dir = Path(default_output_dir(load_settings(environ={}, cwd=REPO).settings))
    assert _outs("training") == ["artifacts/training"]
    assert run_dir.parent.as_posix() == "artifacts/training"


def test_data_stage_scripts_write_exactly_their_outs(tmp_path):
    corpus = make_demo_corpus(tmp_path / "raw", minutes=0.2)
    artifacts = tmp_path / "artifacts"
    env = dict(
        os.environ,
        HOMECAT_CATALOG=str(tmp_path / "c.duckdb"),
        HOMECAT_RAW_AUDIO_ROOT=str(corpus.root),
        EXPORT_DIR=str(artifacts / "export"),
        ARTIFACTS_DIR=str(artifacts),
    )
    expected: set[Path] = set()
    for stage in ("ingestion", "validation", "transformation"):
        before = {p for p in artifacts.rglob("*") if p.is_file()} if artifacts.exists() else set()
        subprocess.run(STAGES[stage]["cmd"].split(), cwd=REPO, env=env, check=True, capture_output=True)
        written = {p for p in artifacts.rglob("*") if p.is_file()} - before
        outs = {artifacts / Path(out).relative_to("artifacts") for out in _outs(stage)}
        assert written == outs, (
            f"stage {stage} wrote {sorted(map(str, written))}, dvc.yaml says {sorted(map(str, outs))}"
        )
        expected |= outs
    assert all(p.stat().st_size > 0 for p in expected)
