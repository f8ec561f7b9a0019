"""The CLI as users call it: exit codes, one-sentence errors, machine-readable output, help with examples."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from homecat.cli import app
from tests.conftest import catalog_held_by_another_process

runner = CliRunner()


def invoke(*args: str, env: dict | None = None):
    return runner.invoke(app, list(args), env=env or {}, catch_exceptions=False)


def test_scan_then_summary_as_json(small_tree, tmp_path):
    catalog = str(tmp_path / "c.duckdb")
    result = invoke("--catalog", catalog, "scan", "--root", str(small_tree), "--format", "json")
    assert result.exit_code == 0, result.output
    counts = {row["what"]: row["count"] for row in json.loads(result.stdout)}
    assert counts["new files"] == 6 and counts["unreadable files"] == 1

    result = invoke("--catalog", catalog, "report", "summary", "--format", "json")
    rows = json.loads(result.stdout)
    total = next(r for r in rows if r["dimension"] == "total")
    assert (total["files"], total["participants"]) == (6, 3)
    assert {r["value"] for r in rows if r["dimension"] == "status"} == {"ok", "unreadable"}


def test_sql_prints_csv_and_a_failed_query_is_one_sentence(small_tree, tmp_path):
    catalog = str(tmp_path / "c.duckdb")
    invoke("--catalog", catalog, "scan", "--root", str(small_tree))
    result = invoke(
        "--catalog", catalog, "sql", "SELECT count(*) AS n FROM recordings WHERE status = 'ok'", "-f", "csv"
    )
    assert result.stdout == "n\n5\n"
    result = invoke("--catalog", catalog, "sql", "SELECT * FROM no_such_table")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: The query failed:") and "Traceback" not in result.output


def test_bad_config_exits_2_with_one_line_per_field_and_no_traceback(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("data:\n  sample_rate: fast\n  colour: blue\n")
    result = invoke("--config", str(config), "config", "show")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"Error: {config}: data.sample_rate: Input should be a valid integer, unable to parse string as an integer "
        "(got 'fast'); allowed: > 0",  # the field's bounds, wherever a value is refused
        f"Error: {config}: data.colour: unknown setting",
    ]


def test_scan_without_a_root_is_one_sentence(tmp_path):
    result = invoke("--catalog", str(tmp_path / "c.duckdb"), "scan")
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("Error: No raw audio root is set")
    assert len(result.stderr.strip().splitlines()) == 1


def test_config_show_names_sources_and_its_yaml_is_a_config_file(tmp_path):
    result = invoke("config", "show", env={"HOMECAT_SAMPLE_RATE": "8000", "HF_TOKEN": "hf_shouldnotappear"})
    assert "env HOMECAT_SAMPLE_RATE" in result.stdout and "hf_shouldnotappear" not in result.stdout
    result = invoke("config", "show", "--format", "yaml", env={"HOMECAT_SAMPLE_RATE": "8000", "HF_TOKEN": "hf_x"})
    config = tmp_path / "resolved.yaml"
    config.write_text(result.stdout)
    again = invoke("--config", str(config), "config", "show", "--format", "json")
    assert json.loads(again.stdout)["data"]["sample_rate"] == 8000
    assert "hf_x" not in result.stdout + again.stdout


def _commands(group, prefix: str = ""):
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a sub-group such as 'report'
            yield from _commands(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", command


@pytest.mark.parametrize("name", [name for name, _ in _commands(get_command(app))])
def test_every_command_has_help_with_an_example(name):
    command = dict(_commands(get_command(app)))[name]
    assert command.help and "Example: homecat" in command.help, f"'homecat {name}' needs help text with an example"


def test_python_dash_m_homecat_works():
    out = subprocess.run([sys.executable, "-m", "homecat", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("homecat ")


def test_a_locked_catalog_exits_3_with_the_lock_sentence_after_the_wait(small_tree, tmp_path):
    catalog = tmp_path / "c.duckdb"
    invoke("--catalog", str(catalog), "scan", "--root", str(small_tree))
    with catalog_held_by_another_process(catalog) as holder:
        start = time.monotonic()
        result = invoke(
            "--catalog", str(catalog), "scan", "--root", str(small_tree), env={"HOMECAT_CATALOG_WRITE_WAIT_SEC": "0.5"}
        )
        waited_sec = time.monotonic() - start
    assert result.exit_code == 3 and waited_sec >= 0.5
    assert result.stderr == (
        f"Error: The catalog {catalog} is in use by another process (PID {holder.pid}, {os.path.basename(os.path.realpath(sys.executable))}); "
        "wait for it to finish, or use another catalog with --catalog.\n"
    )


@pytest.mark.parametrize("name", [name for name, _ in _commands(get_command(app))])
def test_every_command_is_documented_in_the_readme(name):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert f"homecat {name}" in readme, f"'homecat {name}' is missing from README.md"


def test_without_a_terminal_long_commands_print_plain_progress_lines(small_tree, tmp_path):
    """A batch log gets 'done/total unit (share), rate, ETA' lines; HOMECAT_PROGRESS_INTERVAL_SEC=0: every update."""
    catalog = str(tmp_path / "c.duckdb")
    env = {"HOMECAT_PROGRESS_INTERVAL_SEC": "0"}
    scanned = invoke("--catalog", catalog, "scan", "--root", str(small_tree), env=env)
    assert "reading headers: 6/6 files (100%)" in scanned.stderr and "files/s" in scanned.stderr
    validated = invoke("--catalog", catalog, "validate", "--workers", "1", env=env)
    lines = [line for line in validated.stderr.splitlines() if line.startswith("validating: ")]
    assert len(lines) >= 2 and " h/s" in lines[0] and "ETA " in lines[0], validated.stderr
    assert lines[-1].split()[1].split("/")[0] == lines[-1].split()[1].split("/")[1]  # ends at the total
    assert "done in" in lines[-1]
    quiet = invoke("--catalog", catalog, "validate", "--all", "--workers", "1")  # default interval: 30 s
    lines = [line for line in quiet.stderr.splitlines() if line.startswith("validating: ")]
    assert len(lines) == 1 and "done in" in lines[0]  # only the last line within 30 s


def test_progress_lines_keep_their_interval():
    from homecat.progress import ProgressLines

    now = [0.0]
    out = io.StringIO()
    lines = ProgressLines("scan", "files", 30.0, stream=out, clock=lambda: now[0])
    for second in range(0, 100, 5):
        now[0] = float(second)
        lines(second, 100)
    now[0] = 100.0
    lines(100, 100)
    printed = out.getvalue().splitlines()
    assert [line.split()[1] for line in printed] == ["30/100", "60/100", "90/100", "100/100"]
    assert printed[0] == "scan: 30/100 files (30%), 1.00 files/s, ETA 1m10s"
    now[0], out = 200.0, io.StringIO()
    lines.stream = out
    lines(0, 10)  # a second pass starts its own clock: 1 per second, not 100 in 200 s
    now[0] = 240.0
    lines(40, 50)
    assert out.getvalue() == "scan: 40/50 files (80%), 1.00 files/s, ETA 10s\n"


def test_progress_lines_name_the_pass_in_progress():
    """embed over several models: each line says which set it is computing, each set has its own rate."""
    from homecat.progress import ProgressLines

    now = [0.0]
    out = io.StringIO()
    lines = ProgressLines("embedding segments", "segments", 0.0, stream=out, clock=lambda: now[0])
    now[0] = 10.0
    lines(20, 20, "wav2vec2-base")
    now[0] = 12.0
    lines(1, 20, "run1-step_500")  # the next set: a fresh clock, not 21 in 12 s
    now[0] = 14.0
    lines(5, 20, "run1-step_500")
    assert out.getvalue().splitlines() == [
        "embedding segments (wav2vec2-base): 20/20 segments (100%), 2.00 segments/s, done in 10s",
        "embedding segments (run1-step_500): 1/20 segments (5%), 0.00 segments/s",
        "embedding segments (run1-step_500): 5/20 segments (25%), 2.50 segments/s, ETA 6s",
    ]


def test_a_narrow_table_wraps_values_never_a_column_name(monkeypatch):
    from rich.console import Console

    from homecat.cli import base

    out = io.StringIO()
    monkeypatch.setattr(base, "stdout", Console(file=out, width=60, soft_wrap=True))
    columns = ["participant_id", "recordings", "hours", "active_hours", "family_id"]
    base.print_rows(columns, [("FAM01-child1-twin-a", 12, 3.5, 1.25, "FAM01")], base.TableFormat.table)
    text = out.getvalue()
    assert all(name in text for name in columns), text  # each name whole on one line
