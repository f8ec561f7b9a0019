"""ELAN .eaf files (parsed by pympi-ling), every annotation placed in time as ELAN places it.

ELAN's tiers form a hierarchy; a dependent tier's linguistic type constrains how its annotations
relate to the parent's (EAF schema, ELAN manual "Tier types"):

- *Time_Subdivision*: the parent's interval cut into consecutive pieces with no gaps. The pieces share
  their boundary time slots, and a boundary nobody aligned has a slot without a TIME_VALUE. ELAN shows
  such a slot spread evenly between the aligned slots around it in the chain; so do we (linear
  interpolation by position in the chain). A slot still unplaced (its chain has no aligned end) is
  interpolated between the nearest aligned slots of the document's TIME_ORDER, the order ELAN keeps.
- *Included_In*: time-aligned annotations inside the parent's interval; placed like the above where a
  slot is unaligned.
- *Symbolic_Subdivision*: reference annotations without times, ordered by PREVIOUS_ANNOTATION; ELAN
  divides the parent's interval into as many equal parts, in that order.
- *Symbolic_Association*: one reference annotation per parent, with the parent's interval (the same
  rule with one part).

The parent of a reference annotation may itself be a reference annotation (words under an utterance
under a turn): its interval is placed first. Several annotations of one tier under one parent are
the parent's parts, never conflicting intervals. Each annotation keeps its tier and its tier's parent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from homecat.annotation_formats import Annotation, Read, chosen_tiers, span
from homecat.errors import HomecatError, first_line


def read_eaf(path: Path, tiers: Sequence[str] = (), keep_empty: bool = False) -> Read:
    """Every non-empty annotation of the chosen tiers (all when none are named), placed in time; with
    ``keep_empty`` the empty ones too (their tier says who spoke)."""
    import pympi

    try:
        eaf = pympi.Elan.Eaf(str(path), suppress_version_warning=True)
    except Exception as exc:  # pympi raises bare Exception, KeyError, ParseError ... on malformed files
        raise HomecatError(f"{path.name} cannot be read as an ELAN .eaf file ({first_line(exc)}).") from None
    names = list(eaf.tiers)
    names = chosen_tiers(path.name, tiers, names)
    placed = _Placement(eaf)
    read = Read(descriptors=[*eaf.media_descriptors, *eaf.linked_file_descriptors])
    for tier in names:
        aligned, references, attributes, _ = eaf.tiers[tier]
        parent_tier = attributes.get("PARENT_REF") or ""
        rows = [(*placed.interval(aid), value) for aid, (_, _, value, _) in aligned.items()]
        rows += [(*placed.interval(aid), value) for aid, (_, value, _, _) in references.items()]
        rows.sort(key=lambda r: (r[0] is None, r[0] or 0.0, r[1] is None, r[1] or 0.0))  # ELAN's time order
        for number, (start_ms, end_ms, text) in enumerate(rows, start=1):
            if not keep_empty and not (text or "").strip():
                continue  # an empty annotation is not a segment
            start = None if start_ms is None else start_ms / 1000
            end = None if end_ms is None else end_ms / 1000
            where = f"tier '{tier}' annotation {number}{span(start, end)}"
            read.annotations.append(Annotation(where, start, end, text, tier, parent_tier))
    if placed.interpolated:
        read.notes.append(
            f"{path.name}: {placed.interpolated} time slot{'s' * (placed.interpolated != 1)} without a time "
            "value placed between their aligned neighbours, as ELAN shows them."
        )
    return read


class _Placement:
    """The interval (ms) of each annotation of one parsed file, computed once."""

    def __init__(self, eaf) -> None:
        self.eaf = eaf
        self.interpolated = 0
        self.slot_ms = self._slot_times()
        self._tier_of = dict(eaf.annotations)  # annotation id -> tier
        self._parts: dict[str, tuple[str, int, int]] = {}  # reference annotation -> (parent, index, count)
        for _, references, _, _ in eaf.tiers.values():
            self._order_parts(references)
        self._done: dict[str, tuple[float | None, float | None]] = {}

    def interval(self, aid: str, seen: frozenset[str] = frozenset()) -> tuple[float | None, float | None]:
        if aid in self._done:
            return self._done[aid]
        tier = self._tier_of.get(aid)
        if tier is None or aid in seen:  # a reference to nothing, or a loop of references: no time
            return None, None
        aligned = self.eaf.tiers[tier][0]
        if aid in aligned:
            begin_slot, end_slot = aligned[aid][0], aligned[aid][1]
            result = self.slot_ms.get(begin_slot), self.slot_ms.get(end_slot)
        else:
            parent, index, count = self._parts[aid]
            start, end = self.interval(parent, seen | {aid})
            if start is None or end is None:
                result = None, None
            else:  # the parent's interval divided into `count` equal parts, this one the `index`-th
                result = start + (end - start) * index / count, start + (end - start) * (index + 1) / count
        self._done[aid] = result
        return result

    def _order_parts(self, references: dict) -> None:
        """Each reference annotation's place among those of its tier that share its parent."""
        siblings: dict[str, list[str]] = defaultdict(list)
        for aid, (parent, _, _, _) in references.items():
            siblings[parent].append(aid)
        for parent, aids in siblings.items():
            members = set(aids)
            after = {references[a][2]: a for a in aids if references[a][2] in members}  # PREVIOUS_ANNOTATION links
            chain = [a for a in aids if references[a][2] not in members][:1]
            placed = set(chain)
            while chain and chain[-1] in after and after[chain[-1]] not in placed:
                chain.append(after[chain[-1]])
                placed.add(chain[-1])
            chain += [a for a in aids if a not in placed]  # a broken chain: the rest in document order
            for index, aid in enumerate(chain):
                self._parts[aid] = (parent, index, len(chain))

    def _slot_times(self) -> dict[str, float | None]:
        """Every time slot's time in ms: its TIME_VALUE, else interpolated as the module says."""
        given = dict(self.eaf.timeslots)
        times: dict[str, float | None] = {k: (None if v is None else float(v)) for k, v in given.items()}
        if all(v is not None for v in times.values()):
            return times
        for aligned, _, _, _ in self.eaf.tiers.values():  # chains of annotations sharing boundary slots
            for chain in _chains(aligned):
                self._fill(chain, times)
        order = list(given)  # TIME_ORDER, as the file lists it
        self._fill(order, times)
        return times

    def _fill(self, slots: list[str], times: dict[str, float | None]) -> None:
        """Interpolate unknown slots of ``slots`` linearly between the known ones around them."""
        known = [i for i, slot in enumerate(slots) if times.get(slot) is not None]
        for left, right in zip(known, known[1:]):
            a, b = times[slots[left]], times[slots[right]]
            for i in range(left + 1, right):
                if times.get(slots[i]) is None:
                    times[slots[i]] = a + (b - a) * (i - left) / (right - left)
                    self.interpolated += 1


def _chains(aligned: dict) -> list[list[str]]:
    """The time slots of a tier's aligned annotations as chains: an annotation that begins at the slot
    where another ends continues that one's chain."""
    starting = {begin: end for begin, end, _, _ in aligned.values()}
    ends = {end for _, end, _, _ in aligned.values()}
    chains = []
    for begin in starting:
        if begin in ends:
            continue  # inside a chain
        chain = [begin]
        while chain[-1] in starting and len(chain) <= len(starting):
            chain.append(starting[chain[-1]])
        chains.append(chain)
    return chains
