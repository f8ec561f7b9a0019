"""`homecat split`: family- or participant-grouped train/dev(/test) splits, stable as data grows.

Owns the tables ``splits`` and ``split_removals``: which recordings are candidates (readable, validated for
their current version, no error finding), where new groups go (the split furthest below its share, within a
stratum with ``stratify_by``), and that an assignment never moves unless ``reshuffle``, or unless a family
learnt since puts siblings in two splits (then the family joins the split holding most of its hours). A group
is a family where one is known (view ``recording_groups``: the participants table, a recordings table or the
path), else a participant.
Users read README.md "Splits and training crops".
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from homecat.catalog import Catalog, named_queries
from homecat.settings import SplitSettings

SPLITS = ("train", "dev", "test")
_QUERIES = "queries/split.sql"
MOVED_TO_FAMILY = "joined its family's split"
SPLIT_EXPORT_FILES = ("train_split.parquet", "dev_split.parquet", "split_summary.json")  # see homecat/export.py


@dataclass
class SplitSummary:
    """What one `homecat split` run did, and the resulting shares."""

    seed: int
    reshuffled: bool = False
    kept: int = 0
    joined_participant: int = 0  # new recordings of a participant that already had a split
    placed_groups: int = 0  # new participants (or 'unknown' recordings) placed by the seed
    placed_recordings: int = 0
    removed: dict[str, int] = field(default_factory=dict)  # reason -> recordings that left a split
    unvalidated: int = 0  # ok recordings waiting for `homecat validate`
    excluded: dict[str, int] = field(default_factory=dict)  # reason -> recordings not in any split
    hours: dict[str, float] = field(default_factory=dict)
    recordings: dict[str, int] = field(default_factory=dict)
    participants: dict[str, int] = field(default_factory=dict)

    @property
    def dev_share(self) -> float:
        total = sum(self.hours.values())
        return self.hours.get("dev", 0.0) / total if total else 0.0

    def rows(self) -> list[dict[str, object]]:
        rows: list[dict[str, object]] = [
            {"what": "kept in their split", "count": self.kept},
            {"what": "new recordings joining their family's or participant's split", "count": self.joined_participant},
            {"what": "new families or participants placed", "count": self.placed_groups},
            {"what": "recordings of those placed", "count": self.placed_recordings},
        ]
        rows += [{"what": f"left the split ({reason})", "count": n} for reason, n in sorted(self.removed.items())]
        rows += [{"what": f"not in a split ({reason})", "count": n} for reason, n in sorted(self.excluded.items())]
        for split in SPLITS:
            if self.recordings.get(split):
                rows.append(
                    {
                        "what": f"{split}: recordings / participants / hours",
                        "count": f"{self.recordings[split]} / {self.participants[split]} / {self.hours[split]:.3f}",
                    }
                )
        rows.append({"what": "dev share of hours", "count": round(self.dev_share, 3)})
        return rows

    def notes(self) -> list[str]:
        notes = []
        if self.unvalidated:
            notes.append(
                f"{self.unvalidated} readable recording(s) are not validated (or changed since) and are in no split: "
                "run 'homecat validate', then 'homecat split' again."
            )
        if self.removed:
            notes.append(f"{sum(self.removed.values())} recording(s) left their split; see split_removals.")
        return notes

    def to_json(self) -> dict[str, object]:
        return {
            "seed": self.seed,
            "reshuffled": self.reshuffled,
            "kept": self.kept,
            "joined_participant": self.joined_participant,
            "placed_groups": self.placed_groups,
            "placed_recordings": self.placed_recordings,
            "removed": self.removed,
            "unvalidated": self.unvalidated,
            "excluded": self.excluded,
            "splits": {
                s: {"recordings": self.recordings[s], "participants": self.participants[s], "hours": self.hours[s]}
                for s in SPLITS
                if s in self.recordings
            },
            "dev_share_of_hours": round(self.dev_share, 6),
        }


def assign_splits(
    catalog: Catalog, settings: SplitSettings, reshuffle: bool = False, now: datetime | None = None
) -> SplitSummary:
    """Bring ``splits`` up to date (see the module docstring); one transaction."""
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    queries = named_queries(_QUERIES)
    summary = SplitSummary(seed=settings.split_seed, reshuffled=reshuffle)
    targets = {"train": 1.0 - settings.dev_fraction - settings.test_fraction, "dev": settings.dev_fraction}
    targets["test"] = settings.test_fraction

    _, eligibility = catalog.rows(queries["split_eligibility"].sql)
    candidates = {rid: (pid, grp, dur) for rid, pid, grp, dur, why in eligibility if why is None}
    not_candidates = {rid: why for rid, _, _, _, why in eligibility if why is not None}
    for why in not_candidates.values():
        key = "error finding" if why.startswith("error finding") else why
        summary.excluded[key] = summary.excluded.get(key, 0) + 1
    summary.unvalidated = sum(1 for w in not_candidates.values() if w in ("not validated", "changed since validation"))

    with catalog.transaction():
        if reshuffle:
            catalog.run(_QUERIES, "forget_splits")
            catalog.run(_QUERIES, "forget_removals")
        _, current = catalog.rows(queries["split_assignments"].sql)

        stratum = _strata(catalog, settings.stratify_by)
        removals: list[tuple] = []
        group_split: dict[str, str] = {}
        hours_sec: Counter[tuple[str, str]] = Counter()  # (stratum, split) -> seconds
        assigned: set[str] = set()
        family_split = _group_splits(current, candidates)
        for rid, pid, split, assigned_at, _seed in current:
            grp = candidates[rid][1] if rid in candidates else None
            if grp is not None and candidates[rid][0] == pid and family_split[grp] != split:
                # a family learnt since: a sibling's recordings follow the split holding most of the family's hours
                removals.append((rid, pid, split, assigned_at, now, MOVED_TO_FAMILY))
                summary.removed[MOVED_TO_FAMILY] = summary.removed.get(MOVED_TO_FAMILY, 0) + 1
            elif rid in candidates and candidates[rid][0] == pid:
                summary.kept += 1
                group_split[candidates[rid][1]] = split
                hours_sec[stratum(rid), split] += candidates[rid][2]
                assigned.add(rid)
            else:
                why = not_candidates.get(rid) or (
                    "participant relabelled" if rid in candidates else "no longer catalogued"
                )
                removals.append((rid, pid, split, assigned_at, now, why))
                key = "error finding" if why.startswith("error finding") else why
                summary.removed[key] = summary.removed.get(key, 0) + 1
        if removals:
            catalog.run_many(_QUERIES, "unassign", [(r[0],) for r in removals])
            catalog.run_many(_QUERIES, "add_removal", removals)
        # Groups whose recordings all left remember their split (kept recordings decide first).
        for grp, split in catalog.rows(queries["split_memory"].sql)[1]:
            group_split.setdefault(grp, split)

        new_rows: list[tuple] = []
        new_groups: dict[str, list[tuple[str, str, float]]] = {}
        for rid, (pid, grp, dur) in candidates.items():
            if rid in assigned:
                continue
            if grp in group_split:
                new_rows.append((rid, pid, group_split[grp], now, settings.split_seed))
                hours_sec[stratum(rid), group_split[grp]] += dur
                summary.joined_participant += 1
            else:
                new_groups.setdefault(grp, []).append((rid, pid, dur))

        group_sec = {g: sum(d for *_, d in rows) for g, rows in new_groups.items()}
        group_stratum = {g: _main_stratum(rows, stratum) for g, rows in new_groups.items()}
        placements: list[tuple[str, str]] = []
        for name in sorted(set(group_stratum.values())):
            order = sorted(
                (g for g in new_groups if group_stratum[g] == name), key=lambda g: _order_key(settings.split_seed, g)
            )
            placed = Counter({split: sec for (group, split), sec in hours_sec.items() if group == name})
            placements += _place(order, group_sec, placed, targets)
        for grp, split in placements:
            new_rows += [(rid, pid, split, now, settings.split_seed) for rid, pid, _ in new_groups[grp]]
            summary.placed_groups += 1
            summary.placed_recordings += len(new_groups[grp])
        if new_rows:
            catalog.run_many(_QUERIES, "assign", new_rows)

    _fill_totals(catalog, summary)
    return summary


def _group_splits(current: list[tuple], candidates: dict[str, tuple[str, str, float]]) -> dict[str, str]:
    """The split of each group that kept recordings: the one holding most of its hours (the first of SPLITS on a
    tie). Only a group that became one family after its children were placed has more than one."""
    sec: dict[str, Counter[str]] = {}
    for rid, pid, split, *_ in current:
        if rid in candidates and candidates[rid][0] == pid:
            sec.setdefault(candidates[rid][1], Counter())[split] += candidates[rid][2]
    return {g: min(c, key=lambda s: (-c[s], SPLITS.index(s))) for g, c in sec.items()}


def _place(
    order: list[str], group_sec: dict[str, float], hours_sec: Counter[str], targets: dict[str, float]
) -> list[tuple[str, str]]:
    """(group, split) for new groups in seed ``order``, given the hours each split already holds."""
    final_sec = sum(hours_sec.values()) + sum(group_sec[g] for g in order)
    order = list(order)
    placements: list[tuple[str, str]] = []
    # An empty split with a positive target gets a group first, while train keeps at least one: the
    # first group in seed order that fits within its target share, else the smallest.
    for split in ("dev", "test"):
        if order and targets[split] > 0 and hours_sec[split] == 0 and (len(order) >= 2 or hours_sec["train"] > 0):
            fits = [g for g in order if group_sec[g] <= targets[split] * final_sec]
            grp = fits[0] if fits else min(order, key=lambda g: group_sec[g])
            order.remove(grp)
            placements.append((grp, split))
            hours_sec[split] += group_sec[grp]
    for grp in order:
        # the split furthest below its target share of the final total; ties go to train, dev, test
        split = max(
            (s for s in SPLITS if targets[s] > 0),
            key=lambda s: (targets[s] * final_sec - hours_sec[s], -SPLITS.index(s)),
        )
        hours_sec[split] += group_sec[grp]
        placements.append((grp, split))
    return placements


def _strata(catalog: Catalog, stratify_by: str | None) -> Callable[[str], str]:
    """A recording's stratum: its age band, sex or site ('(unknown)' where not known); '' for every
    recording when not stratifying, which makes one stratum of all (the unstratified rule)."""
    if stratify_by is None:
        return lambda rid: ""
    column = {"age-band": 1, "sex": 2, "site": 3}[stratify_by]
    _, rows = catalog.rows(named_queries(_QUERIES)["split_strata"].sql)
    values = {row[0]: row[column] or "(unknown)" for row in rows}
    return lambda rid: values.get(rid, "(unknown)")


def _main_stratum(rows: list[tuple[str, str, float]], stratum: Callable[[str], str]) -> str:
    """The stratum holding most of a new group's hours (the first by name on a tie)."""
    sec: Counter[str] = Counter()
    for rid, _, dur in rows:
        sec[stratum(rid)] += dur
    return min(sec, key=lambda name: (-sec[name], name))


def _order_key(seed: int, group: str) -> str:
    """A seeded, order-free position for a new group: the same seed and group always get the same one."""
    return hashlib.sha256(f"{seed}\x00{group}".encode()).hexdigest()


def _fill_totals(catalog: Catalog, summary: SplitSummary) -> None:
    from homecat.reports import run_report

    columns, rows, _ = run_report(catalog, "splits")
    for row in rows:
        record = dict(zip(columns, row))
        if record["split"] in SPLITS:
            summary.recordings[record["split"]] = record["recordings"]
            summary.participants[record["split"]] = record["participants"]
            summary.hours[record["split"]] = record["hours"]


def write_split_exports(catalog: Catalog, out_dir: str | Path) -> list[Path]:
    """Write train_split.parquet, dev_split.parquet and split_summary.json (also part of `homecat export`)."""
    from homecat.export import EXPORTS, export

    mine = [e for e in EXPORTS if e.file_name in SPLIT_EXPORT_FILES]
    return [w.path for w in export(catalog, out_dir, mine)]
