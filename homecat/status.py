"""`homecat status`: what the catalog holds, stage by stage, and which stage comes next.

Reads the catalog once (sql/queries/status.sql) and the run folders under ``<paths.artifacts_dir>/training``
(a run is a folder with logs/metrics.jsonl). Nothing is written. This module never imports typer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homecat.catalog import Catalog, named_queries
from homecat.settings import Settings

_SPEECH_POLICIES = ("speech", "mixture")


@dataclass(frozen=True)
class Status:
    counts: dict[str, Any]
    speech_source: str
    speech_needed: bool  # crops.crop_policy draws from speech
    runs: list[str]  # training run folders, newest first
    next_step: str

    def rows(self) -> list[dict[str, object]]:
        c = self.counts
        usable = c["usable"]
        rows = [
            ("recordings", f"{c['recordings']} ({c['readable']} readable, {c['unreadable']} unreadable, "
                           f"{c['missing']} missing); {c['readable_hours']:.3f} h readable"),
            ("validated", f"{c['validated']} of {c['readable']} readable; {usable} usable (no error finding)"),
            ("findings", f"{c['error_findings']} error, {c['warning_findings']} warning, {c['info_findings']} info"),
            ("speech", f"{c['usable_with_speech']} of {usable} usable covered by {self.speech_source}"
                       + (" (crops.crop_policy needs it)" if self.speech_needed else "")),
            ("segments", f"{c['segments']} from {c['segment_sources']} source(s)"),
            ("splits", f"train {c['train']}, dev {c['dev']}, test {c['test']} recordings; "
                       f"{usable - c['usable_in_a_split']} usable not in a split"),
            ("training runs", f"{len(self.runs)}" + (f", newest {self.runs[0]}" if self.runs else "")),
            ("embeddings / probes", f"{c['embedding_sets']} set(s), {c['probes']} probe(s)"),
            ("next", self.next_step),
        ]  # fmt: skip
        return [{"what": what, "state": state} for what, state in rows]


def catalog_status(catalog: Catalog, settings: Settings) -> Status:
    """What ``catalog`` holds under ``settings`` and the next stage to run."""
    source = settings.crops.speech_source
    columns, rows = catalog.rows(named_queries("queries/status.sql")["status"].sql, {"speech_source": source})
    counts = dict(zip(columns, rows[0]))
    runs = training_runs(settings.paths.artifacts_dir / "training")
    needed = settings.crops.crop_policy in _SPEECH_POLICIES
    return Status(counts, source, needed, runs, _next_step(counts, needed, source, runs))


def training_runs(folder: Path) -> list[str]:
    """Names of the run folders under ``folder`` (those with logs/metrics.jsonl), newest first."""
    if not folder.is_dir():
        return []
    found = [(p.joinpath("logs", "metrics.jsonl").stat().st_mtime, p.name) for p in folder.iterdir()
             if p.joinpath("logs", "metrics.jsonl").is_file()]  # fmt: skip
    return [name for _, name in sorted(found, reverse=True)]


def _next_step(c: dict[str, Any], speech_needed: bool, source: str, runs: list[str]) -> str:
    if c["recordings"] == 0:
        return "homecat scan (catalog the raw audio root)"
    if c["validated"] < c["readable"]:
        return f"homecat validate ({c['readable'] - c['validated']} readable recording(s) not validated)"
    if c["usable"] == 0:
        return "nothing is usable: read 'homecat report findings' and fix the recordings"
    if speech_needed and c["usable_with_speech"] < c["usable"]:
        todo = c["usable"] - c["usable_with_speech"]
        how = "homecat vad" if source == "silero" else f"homecat vad import (source {source})"
        return f"{how} ({todo} usable recording(s) without speech; crops.crop_policy needs it)"
    if c["usable_in_a_split"] < c["usable"]:
        return f"homecat split ({c['usable'] - c['usable_in_a_split']} usable recording(s) in no split)"
    if not runs:
        return "homecat crops preview, then accelerate launch -m homecat.train --config YOUR.yaml"
    if c["segments"] and not c["embedding_sets"]:
        return "homecat embed (segments are imported; no embeddings yet)"
    if c["embedding_sets"] and not c["probes"]:
        return "homecat probe"
    return "homecat report training, then homecat push --dry-run"
