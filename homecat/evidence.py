"""What the model card says about a run's results: the dev SSL metrics at step 0 and at the pushed step (from
logs/metrics.jsonl, with the run's verdict) and the newest probe of the pushed weights (matched by the hash of
their files, homecat.weights) against its starting model and eGeMAPS on the same folds (from the catalog's
probe_results). Only numbers, label names, counts and the weights' hash: never a set name, a family or a file,
so nothing here can identify a participant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean, stdev
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
    layers: str | None  # the layer scored in each outer fold ("7" when the same in all); None for eGeMAPS
    uar: float  # mean over outer folds
    uar_sd: float
    macro_f1: float
    fold_uars: tuple[float, ...] = ()  # per outer fold, in fold order (empty: a probe without per-fold scores)


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
    weights_sha256: str | None = None  # the weights the probe rows belong to (those pushed)
    weights_step: int | None = None
    comparisons: list[Any] = field(default_factory=list)  # homecat.compare.Paired: this model vs each other role
    chosen: bool = False  # the layers were chosen per outer fold on its training families (per-fold scores)

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
                f"| {p.role} | {'–' if p.layers is None else p.layers} | {p.uar:.3f} ± {p.uar_sd:.3f} | "
                f"{p.macro_f1:.3f} |"
                for p in self.probe
            ]
            layer_text = (
                "the layer scored in each outer fold chosen on that fold's training families alone (inner folds "
                "grouped by family), never on the families it is scored on"
                if self.chosen
                else "the best layer"
            )
            if self.chance is not None:
                rows.append(f"| chance | – | {self.chance:.3f} | – |")
            parts.append(
                "## Did it help? Linear probes\n\n"
                f"A class-balanced logistic regression per layer classifies {len(self.labels)} labels "
                f"({', '.join(self.labels)}) of {self.n_segments:,} annotated segments from {self.n_families} "
                f"families, in {self.n_folds} folds grouped by family (no family in both parts of a fold). UAR is "
                f"the unweighted average recall (balanced accuracy), mean ± sd over folds, of {layer_text}. "
                f"The rows of this model are of the weights pushed (sha256 `{self.weights_sha256}`"
                + (f", step {self.weights_step:,}" if self.weights_step is not None else "")
                + "); all rows come from one probe, on the same folds.\n\n"
                f"| Features | {'Layer per fold' if self.chosen else 'Best layer'} | UAR | Macro-F1 |\n|---|---|---|---|\n"
                + "\n".join(rows)
                + self._comparisons()
            )
        return "\n\n".join(parts)

    def _comparisons(self) -> str:
        """Did it help: this model against the starting model and eGeMAPS, paired over the same outer folds."""
        from homecat.compare import ALPHA, min_p_value

        if not self.comparisons:
            return ""
        rows = [
            f"| {_against(c.b)} | **{c.verdict}** | {c.mean_diff:+.3f} | {c.ci95[0]:+.3f} to {c.ci95[1]:+.3f} | "
            f"{c.p_value:.3f} | {len(c.fold_diffs)} |"
            for c in self.comparisons
        ]
        n = len(self.comparisons[0].fold_diffs)
        floor = (
            f" With {n} folds the smallest possible p is {min_p_value(n):.3f}: {n} folds can never show a difference "
            "at that level (probe with more folds)."
            if min_p_value(n) >= ALPHA
            else ""
        )
        return (
            "\n\n### Did it help? This model against the others, fold by fold\n\n"
            "| This model against | Verdict | UAR difference (mean) | 95% interval | p | Folds |\n"
            "|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
            "The difference is this model's UAR minus the other's on each outer fold (the same test families for "
            "both); p is a two-sided sign-flip permutation test over the folds and the interval is Student's t. "
            f"'better' or 'worse' needs p < {ALPHA:g} and an interval that excludes 0; otherwise the two are "
            f"not distinguishable on these data.{floor}"
        )

    def eval_results(self) -> list[Any]:
        """huggingface_hub EvalResult entries for the card's model-index metadata."""
        from huggingface_hub import EvalResult

        results = []
        data = {"dataset_type": "private-home-recordings", "dataset_name": "Home recordings (private)"}
        mine = next((p for p in self.probe if p.role == "this model"), None)
        if mine is not None:
            layer = "layer chosen per fold" if self.chosen else f"best layer {mine.layers}"
            probe = {**data, "task_type": "audio-classification", "dataset_split": f"{self.n_folds}-fold-grouped-cv",
                     "task_name": f"Linear probe ({', '.join(self.labels)}), {layer}"}  # fmt: skip
            results.append(EvalResult(**probe, metric_type="uar", metric_name="UAR", metric_value=round(mine.uar, 4)))
            results.append(
                EvalResult(**probe, metric_type="f1", metric_name="Macro-F1", metric_value=round(mine.macro_f1, 4))
            )
            # each comparison: the verdict and its numbers in the metric's name, the mean difference its value
            for c in self.comparisons:
                name = (
                    f"UAR difference against {_against(c.b)}: {c.verdict} (95% CI {c.ci95[0]:+.3f} to "
                    f"{c.ci95[1]:+.3f}, sign-flip p = {c.p_value:.3f}, {len(c.fold_diffs)} folds)"
                )
                results.append(
                    EvalResult(**probe, metric_type="uar_difference", metric_name=name,
                               metric_value=round(c.mean_diff, 4))
                )  # fmt: skip
        if self.dev_end and self.dev_end.get("dev_loss") is not None:
            results.append(
                EvalResult(**data, task_type="self-supervised-pretraining", task_name="wav2vec 2.0 pretraining",
                           dataset_split="dev", metric_type="loss", metric_name="Dev loss per masked frame",
                           metric_value=round(self.dev_end["dev_loss"], 4))
            )  # fmt: skip
        return results


def _against(role: str) -> str:
    return role if role == "eGeMAPS" else f"the {role}"


def _fmt(value: Any, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def gather(
    run_dir: Path | None, source: Path, catalog: Path, notes: list[str], *, without_probe_evidence: bool = False
) -> Evidence:
    """The evidence for the model in ``source`` (a run's final/ or a checkpoint) of the run ``run_dir``.

    Probe numbers come only from a probe of these very weights (the hash of source's weight files), with the
    starting model's and eGeMAPS's rows of that same probe (same folds). With none, a HomecatError names the
    commands that make them, unless ``without_probe_evidence`` (then a note says the card has none).
    """
    evidence = Evidence()
    if run_dir is not None:
        _dev(evidence, run_dir, source, notes)
    _probe(evidence, run_dir, source, catalog, notes, without_probe_evidence)
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


def _probe(
    evidence: Evidence, run_dir: Path | None, source: Path, catalog: Path, notes: list[str], without: bool
) -> None:
    from homecat.catalog import Catalog, named_queries
    from homecat.compare import paired_comparison
    from homecat.embed import EGEMAPS
    from homecat.weights import weights_of

    mine = weights_of(source)
    if without:
        notes.append("--without-probe-evidence: the card has no probe results")
        return
    start = _starting_weights(run_dir)
    rows: list[dict[str, Any]] = []
    fold_rows: list[dict[str, Any]] = []
    if mine.sha256 is not None and Path(catalog).is_file():
        queries = named_queries("queries/embed.sql")
        try:
            with Catalog.open(catalog, read_only=True) as cat:
                columns, found = cat.rows(
                    queries["probe_of_weights"].sql, {"sha256": mine.sha256, "start_sha256": start}
                )
                rows = [dict(zip(columns, r)) for r in found]
                if rows:
                    columns, found = cat.rows(
                        queries["chosen_fold_scores_of_probe"].sql, {"probe_id": rows[0]["probe_id"]}
                    )
                    fold_rows = [dict(zip(columns, r)) for r in found]
        except HomecatError as exc:
            raise HomecatError(
                f"The catalog could not be read for the probe results of these weights ({exc.lines[0]}); "
                "push without them with --without-probe-evidence."
            ) from None
    if not rows:
        raise HomecatError(_no_probe_sentence(mine, run_dir, source, catalog))
    best: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["set_name"] not in best or r["uar"] > best[r["set_name"]]["uar"]:
            best[r["set_name"]] = r
    by_role = [
        ("this model", [n for n, r in best.items() if r["weights_sha256"] == mine.sha256]),
        ("starting model", [n for n, r in best.items() if start is not None and r["weights_sha256"] == start]),
        ("eGeMAPS", [n for n, r in best.items() if r["kind"] == EGEMAPS]),
    ]
    per_set: dict[str, list[dict[str, Any]]] = {}
    for f in fold_rows:
        per_set.setdefault(f["set_name"], []).append(f)
    evidence.chosen = bool(per_set)
    if not per_set:
        notes.append(
            "the newest probe of these weights has no per-fold scores (made by an older homecat): the card shows "
            "its best layers without the paired comparison; run 'homecat probe' again for it"
        )
    for role, names in by_role:
        if not names:
            notes.append(f"the newest probe of these weights holds no {role} set: the card does not compare with it")
            continue
        name = sorted(names)[0]  # the same weights embedded twice: one line
        egemaps = best[name]["kind"] == EGEMAPS
        folds = per_set.get(name)
        if folds:  # the layer of each outer fold, chosen on its training families
            uars = tuple(f["uar"] for f in folds)
            layers = [str(f["layer"]) for f in folds]
            shown = None if egemaps else layers[0] if len(set(layers)) == 1 else ", ".join(layers)
            line = ProbeLine(role, shown, mean(uars), stdev(uars), mean(f["macro_f1"] for f in folds), uars)
        else:
            r = best[name]
            line = ProbeLine(role, None if egemaps else str(r["layer"]), r["uar"], r["uar_sd"], r["macro_f1"])
        evidence.probe.append(line)
    mine_line = next((p for p in evidence.probe if p.role == "this model"), None)
    for other in evidence.probe:
        if mine_line is not None and other is not mine_line and mine_line.fold_uars and other.fold_uars:
            evidence.comparisons.append(
                paired_comparison(mine_line.fold_uars, other.fold_uars, metric="uar", a="this model", b=other.role)
            )
    first = rows[0]
    evidence.weights_sha256, evidence.weights_step = mine.sha256, mine.step
    evidence.labels = first["labels"].split(",")
    evidence.n_segments, evidence.n_families, evidence.n_folds = (
        first["n_segments"], first["n_participants"], first["n_folds"]
    )  # fmt: skip
    evidence.chance = first["chance"]


def _starting_weights(run_dir: Path | None) -> str | None:
    """The hash of the run's starting weights (initial/ or the base model), None when unknown."""
    from homecat.train.checkpoints import run_models
    from homecat.weights import weights_of

    if run_dir is None:
        return None
    try:
        models = run_models(run_dir)
    except HomecatError:  # no config.yaml: not a run folder the trainer wrote
        return None
    return weights_of(models[0][2]).sha256 if models and models[0][0] == 0 else None


def _no_probe_sentence(mine: Any, run_dir: Path | None, source: Path, catalog: Path) -> str:
    """One sentence: no probe result of these weights, the commands that make them, and the flag."""
    where = f" ({mine.run_name} step {mine.step:,})" if mine.step is not None and mine.run_name else ""
    if run_dir is not None and (run_dir / "config.yaml").is_file():
        commands = f"'homecat embed --run {run_dir} --features egemaps' then 'homecat probe --run {run_dir}'"
    else:
        commands = f"'homecat embed --model {source} --features egemaps' then 'homecat probe'"
    return (
        f"No probe result in {catalog} belongs to the weights pushed (sha256 {mine.short}{where}): run "
        f"{commands} to make them, or push without probe numbers with --without-probe-evidence."
    )
