"""What the model card says about a run's results: the dev SSL metrics at step 0 and at the pushed step (from
logs/metrics.jsonl, with the run's verdict) and the newest probe of the pushed model against its starting model
and eGeMAPS (from the catalog's probe_results). Only numbers, label names and counts: never a set name, a
family or a file, so nothing here can identify a participant.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from homecat.errors import HomecatError

DEV_METRICS = [
    ("dev_loss", "Loss per masked frame", ".4f"),
    ("dev_contrastive_accuracy", "Contrastive accuracy", ".3f"),
    ("dev_contrastive_accuracy_informative", "Contrastive accuracy, informative frames", ".3f"),
    ("dev_identical_negative_share", "Negatives identical to the positive", ".1%"),
    ("dev_codevector_perplexity", "Codevector perplexity", ".1f"),
]


@dataclass
class ProbeLine:
    role: str  # "this model", "starting model", "eGeMAPS"
    layer: int | None
    uar: float
    uar_sd: float
    macro_f1: float


@dataclass
class Evidence:
    dev_start: dict[str, Any] | None = None  # the step-0 dev row
    dev_end: dict[str, Any] | None = None  # the dev row at (or last before) the pushed step
    verdict: str | None = None
    probe: list[ProbeLine] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    n_segments: int = 0
    n_families: int = 0
    n_folds: int = 0
    chance: float | None = None

    def markdown(self) -> str:
        parts = []
        if self.dev_start and self.dev_end:
            rows = [
                f"| {name} | {_fmt(self.dev_start.get(key), spec)} | {_fmt(self.dev_end.get(key), spec)} |"
                for key, name, spec in DEV_METRICS
            ]
            parts.append(
                "## Did it learn?\n\nDev figures on held-out families, with the same crops, masks and negatives at "
                "every step (the starting weights are step 0).\n"
                + (f"Verdict of the run: **{self.verdict}**.\n" if self.verdict else "")
                + f"\n| Dev metric | step 0 | step {self.dev_end['step']:,} |\n|---|---|---|\n"
                + "\n".join(rows)
            )
        if self.probe:
            rows = [
                f"| {p.role} | {'–' if p.layer is None else p.layer} | {p.uar:.3f} ± {p.uar_sd:.3f} | "
                f"{p.macro_f1:.3f} |"
                for p in self.probe
            ]
            if self.chance is not None:
                rows.append(f"| chance | – | {self.chance:.3f} | – |")
            parts.append(
                "## Did it help? Linear probes\n\n"
                f"A class-balanced logistic regression per layer classifies {len(self.labels)} labels "
                f"({', '.join(self.labels)}) of {self.n_segments:,} annotated segments from {self.n_families} "
                f"families, in {self.n_folds} folds grouped by family (no family in both parts of a fold). UAR is "
                "the unweighted average recall (balanced accuracy), mean ± sd over folds, of the best layer.\n\n"
                "| Features | Best layer | UAR | Macro-F1 |\n|---|---|---|---|\n"
                + "\n".join(rows)
                + self._differences()
            )
        return "\n\n".join(parts)

    def _differences(self) -> str:
        """One sentence: this model's best UAR against the others', beside the fold sd (the scale of noise)."""
        mine = next((p for p in self.probe if p.role == "this model"), None)
        others = [p for p in self.probe if p.role != "this model"]
        if mine is None or not others:
            return ""
        said = ", ".join(
            f"{mine.uar - p.uar:+.3f} over {'' if p.role == 'eGeMAPS' else 'the '}{p.role}" for p in others
        )
        return f"\n\nThis model's best layer: {said} (UAR; its sd over folds is {mine.uar_sd:.3f})."

    def eval_results(self) -> list[Any]:
        """huggingface_hub EvalResult entries for the card's model-index metadata."""
        from huggingface_hub import EvalResult

        results = []
        data = {"dataset_type": "private-home-recordings", "dataset_name": "Home recordings (private)"}
        mine = next((p for p in self.probe if p.role == "this model"), None)
        if mine is not None:
            probe = {**data, "task_type": "audio-classification", "dataset_split": f"{self.n_folds}-fold-grouped-cv",
                     "task_name": f"Linear probe ({', '.join(self.labels)}), best layer {mine.layer}"}  # fmt: skip
            results.append(EvalResult(**probe, metric_type="uar", metric_name="UAR", metric_value=round(mine.uar, 4)))
            results.append(
                EvalResult(**probe, metric_type="f1", metric_name="Macro-F1", metric_value=round(mine.macro_f1, 4))
            )
        if self.dev_end and self.dev_end.get("dev_loss") is not None:
            results.append(
                EvalResult(**data, task_type="self-supervised-pretraining", task_name="wav2vec 2.0 pretraining",
                           dataset_split="dev", metric_type="loss", metric_name="Dev loss per masked frame",
                           metric_value=round(self.dev_end["dev_loss"], 4))
            )  # fmt: skip
        return results


def _fmt(value: Any, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def gather(run_dir: Path | None, source: Path, catalog: Path, notes: list[str]) -> Evidence:
    """The evidence for the model in ``source`` (a run's final/ or a checkpoint) of the run ``run_dir``."""
    evidence = Evidence()
    if run_dir is None:
        return evidence
    _dev(evidence, run_dir, source, notes)
    _probe(evidence, run_dir, source, catalog, notes)
    return evidence


def _dev(evidence: Evidence, run_dir: Path, source: Path, notes: list[str]) -> None:
    from homecat.modelcard import step_number
    from homecat.train.collapse import run_verdict
    from homecat.train.report import run_settings
    from homecat.train.run_folder import read_metrics

    try:
        rows = read_metrics(run_dir)
    except HomecatError:
        notes.append("the run has no logs/metrics.jsonl: the card has no dev figures")
        return
    step = step_number(source.name)
    dev = [r for r in rows if r.get("split") == "dev" and (step is None or r["step"] <= step)]
    start = next((r for r in dev if r["step"] == 0), None)
    if start is None or len(dev) < 2:
        notes.append("the run logged no dev evaluation at step 0 and later: the card has no dev figures")
        return
    evidence.dev_start, evidence.dev_end = start, dev[-1]
    upto = [r for r in rows if step is None or r.get("step", 0) <= step]
    judged = run_verdict(upto, run_settings(run_dir))
    evidence.verdict = f"{judged.label} ({judged.reason})"


def _probe(evidence: Evidence, run_dir: Path, source: Path, catalog: Path, notes: list[str]) -> None:
    from homecat.catalog import Catalog, named_queries
    from homecat.embed import EGEMAPS, default_set_name, run_sets
    from homecat.modelcard import step_number

    try:
        sets = run_sets(run_dir)
    except HomecatError:  # no config.yaml: not a run folder the trainer wrote
        notes.append(f"{run_dir} has no config.yaml: the card has no probe results")
        return
    step = step_number(source.name)
    if step is None:  # final/: its own set, or the checkpoint of the same step (embed --run embeds that one)
        state = run_dir / "trainer_state.json"
        step = json.loads(state.read_text()).get("global_step") if state.is_file() else None
    mine = {default_set_name(str(source))} | {name for s, _, name in sets if s == step and s != 0}
    start = next((name for s, _, name in sets if s == 0), None)
    if not Path(catalog).is_file():
        notes.append("no catalog: the card has no probe results (run 'homecat embed --run' and 'homecat probe --run')")
        return
    try:
        with Catalog.open(catalog, read_only=True) as cat:
            queries = named_queries("queries/embed.sql")
            columns, rows = cat.rows(queries["newest_probe_of_sets"].sql, {"sets": sorted(mine)})
            set_columns, set_rows = cat.rows(queries["embedding_sets"].sql)
    except HomecatError as exc:
        notes.append(f"the catalog could not be read for probe results ({exc}): the card has none")
        return
    kinds = {r["set_name"]: r["kind"] for r in (dict(zip(set_columns, row)) for row in set_rows)}
    rows = [dict(zip(columns, r)) for r in rows]
    if not rows:
        notes.append("the model was never probed: run 'homecat embed --run RUN' and 'homecat probe --run RUN'")
        return
    best: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["set_name"] not in best or r["uar"] > best[r["set_name"]]["uar"]:
            best[r["set_name"]] = r
    roles = [(name, "this model") for name in sorted(mine) if name in best][:1]
    roles += [(start, "starting model")] if start in best else []
    roles += [(name, "eGeMAPS") for name in sorted(best) if kinds.get(name) == EGEMAPS]
    for name, role in roles:
        r = best[name]
        layer = None if kinds.get(name) == EGEMAPS else r["layer"]
        evidence.probe.append(ProbeLine(role, layer, r["uar"], r["uar_sd"], r["macro_f1"]))
    first = rows[0]
    evidence.labels = first["labels"].split(",")
    evidence.n_segments, evidence.n_families, evidence.n_folds = (
        first["n_segments"], first["n_participants"], first["n_folds"]
    )  # fmt: skip
    evidence.chance = first["chance"]
