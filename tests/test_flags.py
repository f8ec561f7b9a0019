"""One flag convention (README "Command reference"): global options anywhere, lists as repeated options, one
meaning per flag name, runs and recordings as options, unknown values refused by name, titles in words."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from homecat.cli import app
from homecat.reports import FINDING_CODES, report_names, report_title

README = Path(__file__).resolve().parents[1] / "README.md"


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), env={}, catch_exceptions=False)


@pytest.fixture
def scanned(small_tree, tmp_path) -> str:
    catalog = str(tmp_path / "c.duckdb")
    assert invoke("scan", "--root", str(small_tree), "--catalog", catalog).exit_code == 0
    return catalog


def _commands(command=None, path=()):
    """Every (path, click command) of the CLI, groups included."""
    command = command or get_command(app)
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_global_options_work_after_the_subcommand_too(scanned, tmp_path):
    after = invoke("report", "summary", "--format", "json", "--catalog", scanned)
    before = invoke("--catalog", scanned, "report", "summary", "--format", "json")
    assert after.exit_code == 0, after.output
    assert json.loads(after.stdout) == json.loads(before.stdout) and json.loads(after.stdout)
    joined = invoke("report", "participants", f"--catalog={scanned}", "-f", "json")
    assert {r["participant_id"] for r in json.loads(joined.stdout)} >= {"P01", "P02"}

    config = tmp_path / "my.yaml"
    config.write_text("data:\n  sample_rate: 8000\n")
    shown = invoke("config", "show", "-f", "json", "--config", str(config))
    assert json.loads(shown.stdout)["data"]["sample_rate"] == 8000
    assert invoke("scan", "--version").stdout.startswith("homecat ")


@pytest.mark.parametrize(
    ("args", "allowed"),
    [
        (["report", "findings", "--code", "nosuch"], "'truncated'"),
        (["report", "findings", "--severity", "fatal"], "'error', 'warning', 'info'"),
        (["report", "summary", "--format", "xml"], "'table', 'csv', 'json'"),
    ],
)
def test_an_unknown_value_is_one_sentence_naming_the_allowed_ones(scanned, args, allowed):
    result = invoke(*args, "--catalog", scanned)
    assert result.exit_code == 2 and result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: Invalid value for") and allowed in line


def test_an_unknown_label_names_the_imported_labels(scanned, tmp_path):
    csv = tmp_path / "labels.csv"
    csv.write_text("recording,start_sec,end_sec,label\nP01_a,0.5,1.0,adult\nP01_a,1.0,1.5,infant\n")
    assert invoke("--catalog", scanned, "segments", "import", str(csv)).exit_code == 0
    result = invoke("--catalog", scanned, "embed", "--model", "never-loaded", "--label", "adult", "--label", "cry")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: Invalid value for '--label': no segment is labelled 'cry'; the labels are adult, infant."
    )


def test_report_titles_are_words_naming_the_filters(scanned):
    findings = invoke("--catalog", scanned, "report", "findings", "--code", "unreadable", "--severity", "error")
    assert findings.exit_code == 0
    assert "findings, worst first (only code unreadable and severity error)" in findings.stdout
    for args in (["findings"], ["silence", "--threshold-db", "-45"], ["summary"], ["splits"]):
        result = invoke("--catalog", scanned, "report", *args)
        assert result.exit_code == 0 and "$" not in result.stdout and "NULL" not in result.stdout
    assert report_title("silence", {"threshold_db": -45.0}).endswith("(every window judged at -45 dBFS)")
    assert all(report_title(name) != name for name in report_names())  # every report has a title in words


def test_every_finding_code_is_in_the_readme_table_and_only_those():
    table = re.search(r"\| code \| severity \| meaning \|\n(.*?)\n\n", README.read_text(), re.S).group(1)
    documented = {code for row in table.splitlines() for code in re.findall(r"`([a-z_]+)`", row.split("|")[1])}
    assert documented == set(FINDING_CODES)


def test_old_spellings_work_with_one_deprecation_line(scanned, small_tree, tmp_path):
    rescan = invoke("--catalog", scanned, "scan", "--root", str(small_tree), "--workers", "2")
    assert rescan.exit_code == 0
    assert rescan.stderr.splitlines() == [
        "note: scan --workers is deprecated and goes in the next release; use --threads.",
        "note: skipped other files: 1 .txt",  # small_tree's readme.txt, counted, not a deprecation
    ]

    run = str(tmp_path / "no-run")
    old, new = invoke("report", "training", run), invoke("report", "training", "--run", run)
    assert old.exit_code == new.exit_code != 0
    assert old.stderr.splitlines()[0].startswith("note: 'homecat report training RUN' is deprecated")
    assert old.stderr.splitlines()[1:] == new.stderr.splitlines()

    old = invoke("--catalog", scanned, "probe", "--set", "egemaps", "--labels", "adult,infant")
    new = invoke("--catalog", scanned, "probe", "--embedding-set", "egemaps", "--label", "adult", "--label", "infant")
    assert old.stderr.splitlines()[:2] == [
        "note: probe --set is deprecated and goes in the next release; use --embedding-set.",
        "note: probe --labels a,b is deprecated and goes in the next release; use --label a --label b.",
    ]
    assert old.stderr.splitlines()[2:] == new.stderr.splitlines() == ["Error: There are no embedding sets: run "
                                                                      "'homecat embed --model ...' first."]  # fmt: skip
    export = invoke("--catalog", scanned, "export", str(tmp_path / "out"), "--only", "raw_audio_manifest.parquet")
    assert export.exit_code == 0 and (tmp_path / "out" / "raw_audio_manifest.parquet").is_file()
    assert "use 'homecat export --output DIR'" in export.stderr
    timeline = invoke("--catalog", scanned, "report", "timeline", "P09/nothing.wav")
    assert timeline.exit_code == 1 and "use 'homecat report timeline --recording RECORDING'" in timeline.stderr


def test_one_meaning_per_flag_name_and_an_example_in_every_help():
    for path, command in _commands():
        where = " ".join(("homecat", *path))
        assert "Example" in (command.help or ""), f"'{where} --help' has no example"
        for param in command.params:
            names, hidden, helptext = set(param.opts), getattr(param, "hidden", False), getattr(param, "help", "")
            if "-f" in names:
                assert "--format" in names, f"{where}: -f is not --format"
            if "--workers" in names and not hidden:
                assert helptext.startswith("Processes"), f"{where}: --workers is not processes"
            if "--set" in names and not hidden:
                assert path[-1] in ("import", "export") and "annotation set" in helptext, (
                    f"{where}: --set is not an annotation set"
                )
            assert "comma-separated" not in (helptext or "").lower() or hidden, f"{where}: a list is not repeatable"
            if param.param_type_name == "argument" and not hidden:  # positionals: files and folders, the SQL
                assert param.name in {"files", "file", "query"}, f"{where}: {param.name} is positional"


def test_config_show_prints_what_each_setting_does():
    result = invoke("config", "show")
    assert result.exit_code == 0
    assert "description" in result.stdout and "The DuckDB catalog file." in result.stdout
