"""The README's real-run steps, as written, on the demo corpus: the example config they copy is accepted and
every `homecat --config my.yaml …` line of "From your recordings to the Hub" runs (training and the Hub aside),
so the README, examples/train.example.yaml and the commands cannot drift apart."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from homecat.cli import app
from homecat.demo import make_demo_corpus

REPO = Path(__file__).resolve().parent.parent
SECTION = "## From your recordings to the Hub"


def real_run_commands() -> list[str]:
    """Every `homecat --config my.yaml …` line of the section's bash blocks, in order, comments dropped."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index(SECTION) :]
    section = section[: section.index("\n## ", 1)]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    lines = [line.split("#", 1)[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith("homecat --config my.yaml ")]


def test_the_section_names_the_steps_a_real_run_needs():
    commands = [c.split()[3] for c in real_run_commands()]
    # vad before the crops: the example config's mixture policy draws speech crops from its rows
    assert commands.index("scan") < commands.index("validate") < commands.index("vad") < commands.index("split")
    assert commands.index("split") < commands.index("crops")


@pytest.mark.slow
def test_the_real_run_steps_run_as_written_on_the_demo_corpus(tmp_path, monkeypatch):
    corpus = make_demo_corpus(tmp_path / "RawAudioData", minutes=1.0)
    config = yaml.safe_load((REPO / "examples" / "train.example.yaml").read_text())
    assert config["crops"]["crop_policy"] == "mixture"  # the README's vad step is there for this
    config["data"]["raw_audio_root"] = str(corpus.root)
    config["paths"]["catalog"] = str(tmp_path / "catalog" / "homecat.duckdb")
    monkeypatch.chdir(tmp_path)  # artifacts/ of the commands land here
    Path("my.yaml").write_text(yaml.safe_dump(config))
    runner = CliRunner()
    shown = runner.invoke(app, ["--config", "my.yaml", "config", "show", "--format", "yaml"])
    assert shown.exit_code == 0, shown.output  # the whole example config, training included, is accepted
    for command in real_run_commands():
        result = runner.invoke(app, shlex.split(command)[1:], env={"HOMECAT_VAD_WORKERS": "1"})
        assert result.exit_code == 0, f"{command}\n{result.output}"
    assert Path("artifacts/silence.png").stat().st_size > 10_000
