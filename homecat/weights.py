"""Which weights a result belongs to: a content hash of a model's weight files, and the run and step they come
from when they are a run's (``final/``, ``checkpoints/step_N``, ``initial/``).

The hash is SHA-256 over the bytes of the weight files as they are on disk: ``model.safetensors`` alone (so it
equals ``sha256sum model.safetensors``), else the shards an index file lists, else ``pytorch_model.bin`` (and its
shards), each file's name and bytes in sorted order. It is read in 1 MiB blocks, never loaded, and kept per
process for each (file, size, mtime): embedding a set, probing it and pushing the same folder hash it once.
A Hub id is hashed from the Hugging Face cache (where loading it put the files); None when they are not there.
Embedding sets, probe results and evaluate rows carry it; ``homecat push`` shows a result only for the weights
it pushes.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

_BLOCK_BYTES = 1 << 20
_SINGLE_FILES = ("model.safetensors", "pytorch_model.bin")
_INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
_STEP_DIR = re.compile(r"^step_(\d+)$")


@dataclass(frozen=True)
class Weights:
    """The weights of one model: content hash, and the run and step when the folder is one of a run's."""

    sha256: str | None
    run_name: str | None = None
    step: int | None = None

    @property
    def short(self) -> str:
        """The first 12 hex digits (as git shortens a commit), or '–' when unknown."""
        return self.sha256[:12] if self.sha256 else "–"


def weights_of(model: str | Path) -> Weights:
    """The ``Weights`` of a model folder or Hub id (see the module docstring)."""
    path = Path(model)
    if path.is_dir():
        path = path.resolve()
        run_name, step = _run_step(path)
        return Weights(folder_sha256(path), run_name, step)
    return Weights(_hub_sha256(str(model)))


def folder_sha256(folder: Path) -> str | None:
    """SHA-256 of the weight files of a model folder, None when it holds none."""
    files = weight_files(folder)
    if not files:
        return None
    if len(files) == 1:  # sha256sum of that file
        return _file_sha256(files[0], *_stamp(files[0]))
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f.name}:{_file_sha256(f, *_stamp(f))}\n".encode())
    return digest.hexdigest()


def weight_files(folder: Path) -> list[Path]:
    """The files that hold a model folder's weights, in a stable order (see the module docstring)."""
    for name in _SINGLE_FILES:
        if (folder / name).is_file():
            return [folder / name]
    for name in _INDEX_FILES:
        index = folder / name
        if index.is_file():
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8")).get("weight_map", {}).values()))
            return [folder / s for s in shards if (folder / s).is_file()]
    return sorted(folder.glob("*.safetensors"))


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


@lru_cache(maxsize=64)
def _file_sha256(path: Path, size_bytes: int, mtime_ns: int) -> str:
    """Streamed: memory stays at one block whatever the file's size. (size, mtime) key the per-process cache."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def _hub_sha256(name: str) -> str | None:
    """The hash of a Hub model's weight files in the Hugging Face cache (no download), None if not cached."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    for filename in (*_SINGLE_FILES, *_INDEX_FILES):
        try:
            found = try_to_load_from_cache(name, filename)
        except Exception:  # not a valid repo id: a path that does not exist
            return None
        if isinstance(found, str):
            return folder_sha256(Path(found).parent)
    return None


def _run_step(folder: Path) -> tuple[str | None, int | None]:
    """(run name, step) of a run's model folder: ``final/`` (step from the run's trainer_state.json),
    ``checkpoints/step_N``, ``initial/`` (step 0); (None, None) for any other folder."""
    match = _STEP_DIR.match(folder.name)
    if match and folder.parent.name == "checkpoints":
        return folder.parent.parent.name, int(match.group(1))
    if folder.name == "initial" and (folder.parent / "config.yaml").is_file():
        return folder.parent.name, 0
    if folder.name == "final":
        state = folder.parent / "trainer_state.json"
        try:
            step = json.loads(state.read_text(encoding="utf-8")).get("global_step") if state.is_file() else None
        except (OSError, ValueError):
            step = None
        return folder.parent.name, step if isinstance(step, int) else None
    return None, None
