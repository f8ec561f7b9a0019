"""Plain progress lines for logs: what a long command prints on stderr when it is not a terminal (a batch job's
log file), at most once per interval, instead of a progress bar that only makes sense on a screen.

    validating: 1.25/10.00 h (12%), 0.31 h/s, ETA 28s
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


def duration(seconds: float) -> str:
    """'42s', '3m05s', '2h07m': short, for log lines."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class ProgressLines:
    """A ``progress(done, total, what=None)`` callback printing one line every ``interval_sec`` (0: every call)
    and the last.

    ``unit`` names what is counted ("files", "h" of audio, "segments"); amounts in hours print with two
    decimals, counts as integers. The rate is since the first call. ``what`` names the pass in progress
    (embed: the set being computed) after the description; a new ``what`` starts its own rate and ETA.
    """

    def __init__(
        self,
        description: str,
        unit: str,
        interval_sec: float,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.description, self.unit, self.interval_sec = description, unit, interval_sec
        self.stream, self.clock = stream, clock
        self.start = clock()
        self.last_line: float | None = None
        self.last_done = 0.0
        self.what: str | None = None

    def __call__(self, done: float, total: float, what: str | None = None) -> None:
        now = self.clock()
        if done < self.last_done or (self.what is not None and what != self.what):  # a new pass: own rate and ETA
            self.start, self.last_line = now, None
        self.last_done, self.what = done, what
        finished = total is not None and done >= total
        if not finished and self.last_line is not None and now - self.last_line < self.interval_sec:
            return
        if not finished and self.last_line is None and now - self.start < self.interval_sec:
            return
        self.last_line = now
        print(self.line(done, total, now - self.start), file=self.stream or sys.stderr, flush=True)

    def line(self, done: float, total: float, elapsed_sec: float) -> str:
        amount = (lambda x: f"{x:.2f}") if self.unit == "h" else (lambda x: f"{int(x):,}")
        name = f"{self.description} ({self.what})" if self.what else self.description
        parts = [f"{name}: {amount(done)}/{amount(total) if total is not None else '?'} {self.unit}"]
        if total:
            parts[0] += f" ({100 * done / total:.0f}%)"
        rate = done / elapsed_sec if elapsed_sec > 0 else 0.0
        parts.append(f"{rate:.2f} {self.unit}/s" if self.unit == "h" or rate < 10 else f"{rate:,.0f} {self.unit}/s")
        if total is not None and rate > 0 and done < total:
            parts.append(f"ETA {duration((total - done) / rate)}")
        elif total is not None and done >= total:
            parts.append(f"done in {duration(elapsed_sec)}")
        return ", ".join(parts)


def training_line(row: dict, max_steps: int, eta_sec: float | None, dev_loss: float | None = None) -> str:
    """One trainer log line from a metrics row (homecat/train/loop.py), under 160 characters:

    step 120/5000 loss 3.412 dev 3.520 lr 4.80e-05 ppl 212.3 mask 0.49 crops/s 14.2 wait 2% gpu 7.1GB ETA 3h12m
    """

    def number(key: str, fmt: str) -> str:
        value = row.get(key)
        return "-" if value is None else format(value, fmt)

    parts = [f"step {row['step']}/{max_steps}", f"loss {number('loss', '.3f')}"]
    if dev_loss is not None:
        parts.append(f"dev {dev_loss:.3f}")
    parts += [
        f"lr {number('learning_rate', '.2e')}",
        f"ppl {number('codevector_perplexity', '.1f')}",
        f"mask {number('mask_share', '.2f')}",
        f"crops/s {number('crops_per_sec', '.1f')}",
        f"wait {number('data_wait_share', '.0%')}",
    ]
    if row.get("gpu_memory_gb") is not None:
        parts.append(f"gpu {row['gpu_memory_gb']:.1f}GB")
    if row.get("skipped_steps"):
        parts.append(f"skipped {row['skipped_steps']}")
    if eta_sec is not None:
        parts.append(f"ETA {duration(eta_sec)}")
    return " ".join(parts)
