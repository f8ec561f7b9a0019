"""`homecat scan`: walk the raw audio root, read headers only, keep `recordings` up to date.

Owns what a scan covers (the folder, or a ChildProject dataset through ``homecat.childproject``) and who a
file's participant is (``data.participant_regex``). The incremental engine (unchanged files cost one
``stat``, headers read by a thread pool, batched commits, vanished files kept as ``missing``) is
``homecat.recordings``. Users read README.md "What `homecat scan` records".
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from homecat.catalog import Catalog
from homecat.errors import ConfigError
from homecat.recordings import ProgressFn, ScanSummary, sync_recordings, walk_audio
from homecat.settings import DataSettings

UNKNOWN_PARTICIPANT = "unknown"


def scan(
    catalog: Catalog,
    data: DataSettings,
    root: Path | None = None,
    hash_audio: bool | None = None,
    workers: int | None = None,
    progress: ProgressFn | None = None,
) -> ScanSummary:
    """Bring ``recordings`` in line with the files under ``root`` (default ``data.raw_audio_root``).

    Without ``root`` and with ``data.childproject_root`` set, that ChildProject dataset is scanned
    instead: its metadata lists the recordings and names their children (homecat.childproject).
    """
    if root is None and data.childproject_root is not None:
        from homecat.childproject import scan_dataset

        return scan_dataset(catalog, data, hash_audio=hash_audio, workers=workers, progress=progress)
    root = _check_root(root or data.raw_audio_root)
    participant_re = re.compile(data.participant_regex)
    denied: list[str] = []
    skipped: Counter[str] = Counter()
    summary = sync_recordings(
        catalog,
        root,
        walk_audio(root, set(data.allowed_ext), denied, skipped),
        participant=lambda rel_path: participant_of(rel_path, participant_re),
        labels=data.participant_regex,
        hash_audio=data.hash_audio if hash_audio is None else hash_audio,
        workers=workers or data.scan_workers,
        progress=progress,
        finish=_folder_finish(data),
        denied=denied,
    )
    summary.skipped = dict(skipped)
    return summary


def _folder_finish(data: DataSettings) -> Callable[[Catalog, datetime, ScanSummary], None]:
    def finish(catalog: Catalog, now: datetime, summary: ScanSummary) -> None:
        """A plain folder scan: what a ChildProject scan stored about its metadata no longer holds, and
        the paths' dates and families are read again (homecat.recording_dates)."""
        from homecat.childproject import forget_dataset
        from homecat.recording_dates import store_path_dates

        forget_dataset(catalog)
        store_path_dates(catalog, data)

    return finish


def participant_of(rel_path: str, pattern: re.Pattern[str]) -> str:
    """The participant named by ``data.participant_regex`` in ``rel_path``, else 'unknown'. With a ``family``
    group, a child whose name does not start with its family's is named FAMILY/CHILD: 'child1' of two families
    are two children (one child of two families would put siblings in two groups)."""
    match = pattern.search(rel_path)
    value = match.group("participant") if match else None
    family = match.group("family") if match and "family" in pattern.groupindex else None
    if value and family and not value.startswith(family):
        value = f"{family}/{value}"
    return value if value else UNKNOWN_PARTICIPANT


def _check_root(root: Path | None) -> Path:
    if root is None:
        raise ConfigError(
            "No raw audio root is set: pass --root DIR, set data.raw_audio_root in your config file, "
            "or set HOMECAT_RAW_AUDIO_ROOT."
        )
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ConfigError(f"The raw audio root {root} does not exist or is not a folder.")
    try:
        with os.scandir(root):
            pass
    except PermissionError:
        raise ConfigError(
            f"The raw audio root {root} cannot be read by this user (permission denied): nothing was scanned."
        ) from None
    return root.resolve()
