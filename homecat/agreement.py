"""How far the speech rows the crop policy uses (Silero's, or another tool's) agree with a reference: human
annotations imported with `homecat segments import`, or another tool's speech rows. Time-based: every second
of the reference's scope is speech or not in each; precision, recall and hours, per recording and in all.

The scope is what the reference covers: its annotated ranges where the import stored them (a ChildProject
set), else the whole readable extent of each recording it annotates (the coding is taken as exhaustive there).
Labels are ignored on the reference side (any annotated interval counts as speech); on the system side
``crops.speech_labels`` chooses, as for crops. This module never imports typer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from homecat.catalog import Catalog, named_queries
from homecat.errors import HomecatError

_SQL = "queries/agreement.sql"
Intervals = list[tuple[float, float]]


def merged(intervals: Iterable[tuple[float, float]]) -> Intervals:
    """Sorted, non-overlapping intervals covering the same time."""
    out: Intervals = []
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def intersection(a: Intervals, b: Intervals) -> Intervals:
    """The time in both of two merged interval lists (a two-pointer walk)."""
    out: Intervals = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def seconds(intervals: Intervals) -> float:
    return sum(end - start for start, end in intervals)


@dataclass
class Agreement:
    """One recording's (or all recordings') seconds: in scope, reference speech, system speech, both."""

    name: str
    scope_sec: float = 0.0
    reference_sec: float = 0.0
    system_sec: float = 0.0
    both_sec: float = 0.0

    def add(self, other: Agreement) -> None:
        self.scope_sec += other.scope_sec
        self.reference_sec += other.reference_sec
        self.system_sec += other.system_sec
        self.both_sec += other.both_sec

    def row(self) -> dict[str, object]:
        def share(part: float, whole: float) -> float | None:
            return round(part / whole, 3) if whole > 0 else None

        precision, recall = share(self.both_sec, self.system_sec), share(self.both_sec, self.reference_sec)
        # time judged alike: speech in both, or in neither
        alike = self.scope_sec - self.reference_sec - self.system_sec + 2 * self.both_sec
        return {
            "recording": self.name,
            "scope_h": round(self.scope_sec / 3600, 4),
            "reference_speech_h": round(self.reference_sec / 3600, 4),
            "system_speech_h": round(self.system_sec / 3600, 4),
            "both_h": round(self.both_sec / 3600, 4),
            "precision": precision,
            "recall": recall,
            "f1": round(2 * precision * recall / (precision + recall), 3) if precision and recall else None,
            "agreement": share(alike, self.scope_sec),
        }


@dataclass
class AgreementReport:
    reference: str
    system: str
    labels: list[str]
    recordings: list[Agreement] = field(default_factory=list)

    def rows(self) -> list[dict[str, object]]:
        total = Agreement("(all)")
        for recording in self.recordings:
            total.add(recording)
        return [r.row() for r in self.recordings] + [total.row()]

    def title(self) -> str:
        labels = f" (labels {', '.join(self.labels)})" if self.labels else ""
        return f"speech rows of '{self.system}'{labels} against '{self.reference}', on the time it covers"


def agreement(catalog: Catalog, reference: str, system: str, labels: Sequence[str] = ()) -> AgreementReport:
    """Compare speech rows of ``system`` (labels ``labels``, all when empty) with ``reference``: a segments
    source (annotation file name, 'childproject:SET') or a speech source; a name in both is the segments'."""
    queries = named_queries(_SQL)
    _, sources = catalog.rows(queries["agreement_sources"].sql)
    targets = {target for target, source, _ in sources if source == reference}
    if not targets:
        known = ", ".join(f"{source} ({target})" for target, source, _ in sources) or "none: import some first"
        raise HomecatError(f"No segments or speech rows have the source '{reference}'; the sources are {known}.")
    target = "segments" if "segments" in targets else "speech"
    if target == "speech" and reference == system:
        raise HomecatError(f"'{reference}' is the speech source compared (crops.speech_source): name another one.")
    _, ref_rows = catalog.rows(queries["agreement_reference"].sql, {"target": target, "source": reference})
    by_recording: dict[str, list[tuple[float, float]]] = {}
    for recording_id, start, end in ref_rows:
        by_recording.setdefault(recording_id, []).append((start, end))
    ids = sorted(by_recording)
    params = {"system": system, "labels": list(labels), "recordings": ids}
    _, sys_rows = catalog.rows(queries["agreement_system"].sql, params)
    system_by: dict[str, list[tuple[float, float]]] = {}
    for recording_id, start, end in sys_rows:
        system_by.setdefault(recording_id, []).append((start, end))
    _, scope_rows = catalog.rows(
        queries["agreement_scope"].sql, {"target": target, "source": reference, "recordings": ids}
    )
    scopes: dict[str, tuple[str, list[tuple[float, float]]]] = {}
    for recording_id, rel_path, duration_sec, start, end in scope_rows:
        _, ranges = scopes.setdefault(recording_id, (rel_path, []))
        if start is not None:
            ranges.append((start, end))
        elif duration_sec is not None:
            ranges.append((0.0, duration_sec))
    report = AgreementReport(reference, system, list(labels))
    for recording_id in sorted(scopes, key=lambda r: scopes[r][0]):
        name, ranges = scopes[recording_id]
        scope = merged(ranges)
        ref = intersection(merged(by_recording[recording_id]), scope)
        hyp = intersection(merged(system_by.get(recording_id, ())), scope)
        report.recordings.append(
            Agreement(name, seconds(scope), seconds(ref), seconds(hyp), seconds(intersection(ref, hyp)))
        )
    return report
