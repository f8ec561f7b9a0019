"""One share of a stage's recordings, for a SLURM job array (or any set of processes): ``--shard K/N`` takes the
recordings whose stable hash of the recording_id falls in share K of N (K from 0), so N array tasks together
cover every recording once, whatever the order of the catalog, and a rerun gives each task the same ones.
This module never imports typer.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from homecat.errors import HomecatError


class _HasRecording(Protocol):
    recording_id: str


@dataclass(frozen=True)
class Shard:
    index: int  # K, from 0
    count: int  # N

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"3/8"`` → Shard(3, 8); anything else is one sentence saying what is expected."""
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not match or not 0 <= int(match[1]) < int(match[2]):
            raise HomecatError(
                f"--shard {text!r} must be K/N with 0 <= K < N, e.g. "
                "--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT (an array of --array=0-N-1)."
            )
        return cls(int(match[1]), int(match[2]))

    def holds(self, recording_id: str) -> bool:
        digest = hashlib.sha1(recording_id.encode("utf-8", "surrogatepass")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index

    def take(self, tasks: Iterable[_HasRecording]) -> Iterator[_HasRecording]:
        return (task for task in tasks if self.holds(task.recording_id))


def parse_shard(text: str | None) -> Shard | None:
    return Shard.parse(text) if text is not None else None
