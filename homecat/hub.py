"""Publish a trained model to the Hugging Face Hub: stage, check, upload (``homecat push``).

Everything that would be sent is first built in a staging folder, ``<run>/hub_staging/``
(``<checkpoint>/hub_staging/`` for a checkpoint outside a run folder). It is replaced on every
push and kept afterwards, so you can read exactly what went out (or, with ``dry_run``, what
would go out)::

    model.safetensors  config.json  preprocessor_config.json   from final/ or the checkpoint
    README.md                                                  the model card (from trainer_state.json)
    checkpoints/step_N/{the three model files}                 with include_checkpoints, one per checkpoint

Nothing else of the run is ever sent: not the optimizer state, not config.yaml, never index/.
The JSON files are scrubbed of path-like values (``_name_or_path`` and friends). Before anything
is sent, every staged text file and the safetensors header are scanned for the run's participant
ids, recording ids and relative paths (read from ``index/*.parquet``) and for absolute paths;
a hit refuses the push. One push is one commit, so a failed push leaves the repository as it was.

The token (``hub.token``: HF_TOKEN or .env) is handed to ``HfApi`` and nothing else: it is never
printed, logged, written to a staged file or put in an exception message.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import struct
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from homecat import __version__
from homecat.errors import HomecatError
from homecat.settings import HubSettings, Settings

MODEL_FILES = ("model.safetensors", "config.json", "preprocessor_config.json")
CARD_FILE = "README.md"
STAGING_DIR = "hub_staging"
NOT_RECORDED = "not recorded"
CARD_TAGS = ["wav2vec2", "self-supervised-learning", "audio", "child-directed-speech"]
LANGUAGE_TAGS = {"hi": "hindi"}

# Index columns whose values identify families or files; their values must never be pushed.
_IDENTIFYING_COLUMN = re.compile(r"participant|family|child|speaker|subject|path|file|recording|session|date", re.I)
# Values too generic to search for (participant_id is 'unknown' when the regex does not match).
_GENERIC_VALUES = {"unknown", "none", "null", "nan", "n/a", "na", "missing", "train", "dev", "test"}
_MIN_IDENTIFIER_LEN = 3
_ALNUM = re.compile(r"[A-Za-z0-9]")
_ABSOLUTE_PATH = re.compile(
    r"(?<![\w.~:/\\-])/[\w.-]+/[\w./-]*"  # /home/me/…  (not the // of a URL, not a/b)
    r"|(?<![\w])~/[\w./-]+"  # ~/data/…
    r"|(?<![\w])[A-Za-z]:(?:\\\\|\\|/)[\w.][\w.\\/-]*"  # C:\… C:/… (and C:\\… inside JSON)
    r"|\\\\[\w.-]+\\"  # \\server\share
    r"|file:/"
)
_PATH_KEYS = {"_name_or_path", "name_or_path"}
_STEP_DIR = re.compile(r"^step_(\d+)$")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


@dataclass(frozen=True)
class StagedFile:
    """One file of the staging folder, named as it will be in the repository."""

    path_in_repo: str
    size_bytes: int


@dataclass
class Staged:
    """A staging folder that passed the privacy check."""

    source: Path  # the model folder staged (final/ or a checkpoint)
    staging_dir: Path
    files: list[StagedFile]
    card: str
    notes: list[str] = field(default_factory=list)


@dataclass
class PushResult:
    """What ``push`` sent (or, with ``dry_run``, would send)."""

    source: Path
    staging_dir: Path
    files: list[StagedFile]
    repo_id: str | None
    private: bool
    dry_run: bool
    commit_url: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(f.size_bytes for f in self.files)

    def summary(self) -> str:
        """One sentence for people."""
        what = f"{len(self.files)} files ({_human_bytes(self.total_bytes)})"
        visibility = "private" if self.private else "public"
        if self.dry_run:
            target = self.repo_id or "(no repository set: HF_REPO_ID or --repo-id)"
            return f"Dry run: would push {what} to {target} as a {visibility} repository; staged in {self.staging_dir}."
        return f"Pushed {what} to {self.repo_id} ({visibility}): {self.commit_url}"


# --------------------------------------------------------------------------- public API


def push(
    settings: Settings,
    *,
    run: str | os.PathLike | None = None,
    checkpoint: str | os.PathLike | None = None,
    dry_run: bool = False,
    include_checkpoints: bool = False,
    endpoint: str | None = None,
) -> PushResult:
    """Stage the model of a run (``run/final``) or a checkpoint, check it, and upload it.

    ``settings.hub`` gives the repository, visibility, card license/language and the token
    (flags reach it as settings overrides). Without ``run`` or ``checkpoint`` the newest finished
    run under ``<artifacts_dir>/training`` is used. ``endpoint`` defaults to huggingface_hub's
    (``HF_ENDPOINT``, else https://huggingface.co). ``dry_run`` stages and checks but sends
    nothing and needs no token. Raises ``HomecatError`` with one sentence on every failure.
    """
    hub = settings.hub
    token: str | None = None
    repo_id = hub.repo_id
    if not dry_run:
        if hub.token is None or not hub.token.get_secret_value().strip():
            raise HomecatError("No Hugging Face token: set HF_TOKEN in the environment or in .env (see .env.example).")
        token = hub.token.get_secret_value().strip()
        if not repo_id:
            raise HomecatError("No Hub repository: set HF_REPO_ID in the environment or in .env, or pass --repo-id.")
        _validate_repo_id(repo_id)

    staged = stage(settings, run=run, checkpoint=checkpoint, include_checkpoints=include_checkpoints)
    result = PushResult(
        source=staged.source,
        staging_dir=staged.staging_dir,
        files=staged.files,
        repo_id=repo_id,
        private=hub.private,
        dry_run=dry_run,
        notes=staged.notes,
    )
    if dry_run:
        return result

    assert token is not None and repo_id is not None
    if _contains_secret(staged.staging_dir, token):
        raise HomecatError(f"Refusing to push: the Hub token appears in a staged file under {staged.staging_dir}.")
    step = _step_of(staged.source)
    message = f"Upload wav2vec2 model{f' (checkpoint step {step})' if step is not None else ''} with homecat {__version__}"
    result.repo_id, result.private, result.commit_url = _upload(
        staged.staging_dir,
        repo_id=repo_id,
        private=hub.private,
        token=token,
        endpoint=endpoint,
        timeout_sec=hub.request_timeout_sec,
        commit_message=message,
    )
    return result


def stage(
    settings: Settings,
    *,
    run: str | os.PathLike | None = None,
    checkpoint: str | os.PathLike | None = None,
    include_checkpoints: bool = False,
) -> Staged:
    """Build the staging folder (model files, scrubbed JSON, model card) and run the privacy check."""
    source, run_dir = _resolve_source(settings, run, checkpoint)
    if include_checkpoints and checkpoint is not None:
        raise HomecatError("--include-checkpoints goes with --run (it pushes that run's checkpoints), not --checkpoint.")
    notes: list[str] = []

    staging = (run_dir or source) / STAGING_DIR
    try:
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        scrubbed = _stage_model(source, staging)
        if include_checkpoints:
            assert run_dir is not None
            for ckpt in _checkpoints(run_dir, notes):
                scrubbed += _stage_model(ckpt, staging / "checkpoints" / ckpt.name, prefix=f"checkpoints/{ckpt.name}/")
        state = _trainer_state(source, run_dir, notes)
        card = model_card(
            state,
            settings.hub,
            checkpoint=source.name if checkpoint is not None else None,
            checkpoints=sorted((p.name for p in (staging / "checkpoints").glob("step_*")), key=_step_key),
        )
        (staging / CARD_FILE).write_text(card, encoding="utf-8")
    except OSError as exc:
        raise HomecatError(f"Could not build the staging folder {staging}: {exc.strerror or exc}.") from exc
    if scrubbed:
        notes.append(f"left out of the JSON files (path-like): {', '.join(sorted(set(scrubbed)))}")

    forbidden = index_identifiers(run_dir, notes) if run_dir is not None else {}
    if run_dir is None:
        notes.append(f"{source} is not inside a run folder: checked for absolute paths only (no index/ to check against)")
    findings = find_identifiers(staging, forbidden)
    if findings:
        shown = findings[:10] + ([f"… and {len(findings) - 10} more."] if len(findings) > 10 else [])
        raise HomecatError(
            f"Refusing to push: the staged files under {staging} name participants or paths; nothing was sent.",
            *shown,
        )
    return Staged(source=source, staging_dir=staging, files=_list_files(staging), card=card, notes=notes)


def model_card(
    state: Mapping[str, Any],
    hub: HubSettings,
    *,
    checkpoint: str | None = None,
    checkpoints: list[str] | None = None,
) -> str:
    """The README.md of the repository: YAML metadata, training summary, usage, intended use and limits.

    ``checkpoint`` names the checkpoint folder (``step_N``) when the card is for one; ``checkpoints``
    lists the checkpoint folders pushed beside the final model. Built only from numbers and a few
    free-text fields of trainer_state.json; every missing or malformed field reads "not recorded".
    """
    base_model, base_local = _base_model(state.get("base_model"), hub.card_base_model)
    tags = CARD_TAGS[:3] + [LANGUAGE_TAGS[c] for c in hub.language if c in LANGUAGE_TAGS] + CARD_TAGS[3:]
    meta = {
        "base_model": base_model,
        "library_name": "transformers",
        "pipeline_tag": "feature-extraction",
        "license": hub.license,
        "language": list(hub.language),
        "tags": tags,
    }
    repo_id = hub.repo_id or "your-namespace/your-model"
    title = repo_id.split("/")[-1]
    languages = ", ".join(hub.language) or NOT_RECORDED

    def num(*keys: str) -> float | None:
        value: Any = state
        for key in keys:
            value = value.get(key) if isinstance(value, Mapping) else None
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        return float(value) if ok else None

    def fmt(value: float | None, spec: str, unit: str = "") -> str:
        return NOT_RECORDED if value is None else f"{value:{spec}}{unit}"

    def pair(key: str, spec: str, unit: str = "") -> str:
        return f"{fmt(num('data', f'train_{key}'), spec, unit)} / {fmt(num('data', f'dev_{key}'), spec, unit)}"

    def text(key: str) -> str:
        value = state.get(key)
        return value.strip() if isinstance(value, str) and value.strip() else NOT_RECORDED

    steps = fmt(num("global_step"), ",.0f")
    if num("max_steps") is not None:
        steps += f" of {num('max_steps'):,.0f} planned"
    commit = text("git_commit")
    commit = commit[:12] if commit != NOT_RECORDED else commit
    base_text = f"[{base_model}](https://huggingface.co/{base_model})"
    if base_local:
        base_text += " (loaded from a local copy)"

    rows = [
        ("Audio, train / dev", pair("hours", ",.1f", " h")),
        ("Recordings, train / dev", pair("recordings", ",.0f")),
        ("Participants (families), train / dev", pair("participants", ",.0f")),
        ("Optimizer steps", steps),
        ("Crop length", fmt(num("crop_sec"), "g", " s")),
        ("Effective batch", fmt(num("effective_batch_crops"), ",.0f", " crops")),
        ("Train loss", fmt(num("train", "loss"), ".4f")),
        ("Train codevector perplexity", fmt(num("train", "codevector_perplexity"), ".1f")),
        ("Dev loss", fmt(num("dev", "loss"), ".4f")),
        ("Dev codevector perplexity", fmt(num("dev", "codevector_perplexity"), ".1f")),
        ("Hardware", text("hardware")),
        ("Mixed precision", text("mixed_precision")),
        ("homecat version", text("homecat_version")),
        ("homecat commit", commit),
    ]
    table = "\n".join(["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows])

    what = "the final model of the run"
    load_args = f'"{repo_id}"'
    if checkpoint is not None:
        match = _STEP_DIR.match(checkpoint)
        what = f"an intermediate checkpoint ({f'step {int(match.group(1)):,}' if match else checkpoint}) of the run"
    extra = ""
    if checkpoints:
        listed = ", ".join(f"`checkpoints/{name}/`" for name in checkpoints)
        extra = (
            f"\nIntermediate checkpoints are in folders of this repository ({listed}); load one with "
            f'`Wav2Vec2Model.from_pretrained("{repo_id}", subfolder="checkpoints/{checkpoints[-1]}")`.\n'
        )

    body = f"""# {title}

A [wav2vec 2.0](https://arxiv.org/abs/2006.11477) speech encoder: {base_text} after continued
self-supervised pretraining (the contrastive and diversity objectives of `Wav2Vec2ForPreTraining`)
on long-form home recordings of parents and infants. Language(s) of the recordings: {languages}.
This repository holds {what}, prepared with homecat {__version__}.

## Training summary

Dev figures come from held-out families: the train/dev split groups recordings by participant, so no
participant's audio is in both. Training read random crops of the given length from the recordings;
losses and perplexities are those logged at the step shown.

{table}

## How to use

The weights include the pretraining head (quantizer and projections); `Wav2Vec2Model` loads the encoder
and ignores the rest. There is no tokenizer and no CTC head: fine-tune before using it for speech recognition.

```python
import torch
from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2Model

feature_extractor = Wav2Vec2FeatureExtractor.from_pretrained({load_args})
model = Wav2Vec2Model.from_pretrained({load_args})

waveform = torch.zeros(16000)  # one second of 16 kHz mono audio
inputs = feature_extractor(waveform.numpy(), sampling_rate=16000, return_tensors="pt")
with torch.no_grad():
    frames = model(**inputs).last_hidden_state  # (batch, frames, hidden size), one frame per 20 ms
```
{extra}
## Intended use

- Research on child language and the home language environment: a starting point for fine-tuning or
  probing on tasks such as vocalization type, speaker role (child, adult), addressee (child- or
  adult-directed speech), or speech recognition of naturalistic home audio.
- Frame-level or pooled features for downstream classifiers, evaluated with folds grouped by family.

## Limitations

- Self-supervised only: the representations must be fine-tuned or probed before they predict anything.
- The recordings come from a limited number of families, devices and homes; expect weaker features on
  other languages, recording devices and settings, and check performance on your own data.
- The codevector perplexity and contrastive loss describe the pretraining task, not downstream quality.
- Speech representations can encode speaker identity. Do not use this model to identify or re-identify
  people, or for any surveillance.

## Training data and privacy

The home recordings are private and are not distributed with this model. This card and the files of this
repository contain no participant identifiers, file names, paths or recording dates: homecat checks every
file against the run's index before uploading, and refuses to push if one appears.
"""
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n\n" + body


def index_identifiers(run_dir: Path, notes: list[str] | None = None) -> dict[str, str]:
    """Strings that identify families or files in a run's ``index/*.parquet``, each with where it came from.

    Values of participant / recording / path / date-like columns, plus the file name and stem of every
    path. Values shorter than three characters and generic words (``unknown``) are left out.
    """
    files = sorted((run_dir / "index").glob("*.parquet"))
    if not files:
        if notes is not None:
            notes.append(f"{run_dir / 'index'} has no parquet files: checked for absolute paths only")
        return {}
    import pyarrow as pa
    import pyarrow.parquet as pq

    out: dict[str, str] = {}

    def add(value: str, origin: str) -> None:
        value = value.strip()
        if len(value) >= _MIN_IDENTIFIER_LEN and value.lower() not in _GENERIC_VALUES:
            out.setdefault(value, origin)

    for path in files:
        try:
            schema = pq.read_schema(path)
            columns = [
                f.name
                for f in schema
                if _IDENTIFYING_COLUMN.search(f.name)
                and (
                    pa.types.is_string(f.type)
                    or pa.types.is_large_string(f.type)
                    or pa.types.is_dictionary(f.type)
                    or pa.types.is_temporal(f.type)
                )
            ]
            table = pq.read_table(path, columns=columns) if columns else None
        except (OSError, pa.ArrowException) as exc:
            raise HomecatError(f"Cannot read {path} to check what would be pushed: {exc}.") from exc
        for name in columns:
            origin = f"{name} from index/{path.name}"
            for value in set(table.column(name).to_pylist()):  # type: ignore[union-attr]
                if value is None:
                    continue
                if not isinstance(value, str):  # dates and times: search their ISO form
                    if not hasattr(value, "isoformat"):
                        continue
                    value = value.isoformat()
                    add(value[:10], origin)
                add(value, origin)
                if "/" in value or "\\" in value or "path" in name.lower() or "file" in name.lower():
                    leaf = re.split(r"[\\/]", value)[-1]
                    add(leaf, origin)
                    add(leaf.rsplit(".", 1)[0], origin)
    return out


def find_identifiers(folder: Path, forbidden: Mapping[str, str]) -> list[str]:
    """One sentence per identifying string found in the files under ``folder``.

    Text files are searched whole; safetensors files through their JSON header. ``forbidden`` maps a
    string to where it came from; matches are case-insensitive and must not sit inside a longer word.
    Absolute paths (POSIX, ``~/``, Windows, ``file:``) are always looked for.
    """
    findings = []
    lowered = {value.lower(): (value, origin) for value, origin in forbidden.items()}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        text = _readable_text(path)
        low = text.lower()
        for needle, (value, origin) in lowered.items():
            for start in _bounded_matches(low, needle):
                findings.append(f"{rel} line {text.count(chr(10), 0, start) + 1} contains '{value}' ({origin}).")
        for match in _ABSOLUTE_PATH.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            findings.append(f"{rel} line {line} contains an absolute path '{match.group(0)}'.")
    return findings


# --------------------------------------------------------------------------- staging


def _resolve_source(settings: Settings, run: Any, checkpoint: Any) -> tuple[Path, Path | None]:
    """The model folder to push and the run folder it belongs to (None for a stray checkpoint)."""
    if run is not None and checkpoint is not None:
        raise HomecatError("Give --run or --checkpoint, not both.")
    if checkpoint is not None:
        source = Path(checkpoint)
        if not source.is_dir():
            raise HomecatError(f"The checkpoint folder {source} does not exist.")
        run_dir = source.parent.parent if source.parent.name == "checkpoints" else None
    else:
        run_dir = Path(run) if run is not None else _latest_run(Path(settings.paths.artifacts_dir) / "training")
        if not run_dir.is_dir():
            raise HomecatError(f"The run folder {run_dir} does not exist.")
        source = run_dir / "final"
        if not source.is_dir():
            raise HomecatError(
                f"The run {run_dir} has no final/ model (is training finished?); "
                f"push a checkpoint with --checkpoint {run_dir / 'checkpoints' / 'step_N'}."
            )
    missing = [name for name in MODEL_FILES if not (source / name).is_file()]
    if missing:
        raise HomecatError(f"{source} is not a complete model folder: {', '.join(missing)} missing.")
    return source, run_dir


def _latest_run(training_dir: Path) -> Path:
    runs = [p.parent.parent for p in training_dir.glob("*/final/model.safetensors")]
    if not runs:
        raise HomecatError(f"No finished run under {training_dir}: pass --run DIR or --checkpoint DIR.")
    return max(runs, key=lambda p: (p / "final" / "model.safetensors").stat().st_mtime)


def _checkpoints(run_dir: Path, notes: list[str]) -> list[Path]:
    found = []
    for ckpt in sorted((run_dir / "checkpoints").glob("step_*"), key=lambda p: _step_key(p.name)):
        if not ckpt.is_dir() or _step_of(ckpt) is None:
            continue
        if all((ckpt / name).is_file() for name in MODEL_FILES):
            found.append(ckpt)
        else:
            notes.append(f"skipped {ckpt.name}: it has no model files (only training state)")
    if not found:
        raise HomecatError(f"--include-checkpoints: {run_dir / 'checkpoints'} holds no checkpoint with model files.")
    return found


def _stage_model(source: Path, target: Path, prefix: str = "") -> list[str]:
    """Link or copy the weights, write scrubbed JSON; returns the dotted keys left out."""
    target.mkdir(parents=True, exist_ok=True)
    weights = target / "model.safetensors"
    try:
        os.link(source / "model.safetensors", weights)  # same file system: no 360 MB copy
    except OSError:
        shutil.copyfile(source / "model.safetensors", weights)
    removed: list[str] = []
    for name in ("config.json", "preprocessor_config.json"):
        try:
            data = json.loads((source / name).read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HomecatError(f"{source / name} is not valid JSON ({exc}).") from None
        clean = _scrub(data, removed, f"{prefix}{name}:")
        (target / name).write_text(json.dumps(clean, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return removed


def _scrub(value: Any, removed: list[str], where: str) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in _PATH_KEYS or (isinstance(item, str) and _looks_like_path(item)):
                removed.append(f"{where}{key}")
                continue
            out[key] = _scrub(item, removed, f"{where}{key}.")
        return out
    if isinstance(value, list):
        kept = [item for item in value if not (isinstance(item, str) and _looks_like_path(item))]
        if len(kept) != len(value):
            removed.append(where.rstrip("."))
        return [_scrub(item, removed, where) for item in kept]
    return value


def _looks_like_path(value: str) -> bool:
    value = value.strip()
    return (
        value.startswith(("/", "~", "./", "../", "\\\\", "file:"))
        or bool(re.match(r"^[A-Za-z]:[\\/]", value))
        or bool(_ABSOLUTE_PATH.search(value))
    )


def _trainer_state(source: Path, run_dir: Path | None, notes: list[str]) -> dict[str, Any]:
    """trainer_state.json of the checkpoint if it has one, else the run's (losses only if steps agree)."""
    candidates = [source / "trainer_state.json"] + ([run_dir / "trainer_state.json"] if run_dir else [])
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        notes.append("no trainer_state.json: the card says 'not recorded' for the training summary")
        state: dict[str, Any] = {}
    else:
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HomecatError(f"{path} is not valid JSON ({exc}); fix or remove it and push again.") from None
        if not isinstance(state, dict):
            raise HomecatError(f"{path} must hold a JSON object; fix or remove it and push again.")
    step = _step_of(source)
    if step is not None and path is not None and path.parent != source and state.get("global_step") != step:
        # the run's state describes a later step: keep run-level facts, not its losses
        state = {k: v for k, v in state.items() if k not in ("train", "dev")}
        state["global_step"] = step
        notes.append(f"trainer_state.json describes another step than {source.name}: losses 'not recorded'")
    elif step is not None and "global_step" not in state:
        state["global_step"] = step
    return state


def _base_model(recorded: Any, fallback: str) -> tuple[str, bool]:
    """(hub id, whether the run loaded it from a local path)."""
    if isinstance(recorded, str) and _HUB_ID.match(recorded.strip()) and not Path(recorded.strip()).exists():
        return recorded.strip(), False
    return fallback, isinstance(recorded, str) and bool(recorded.strip())


def _step_of(path: Path) -> int | None:
    match = _STEP_DIR.match(path.name)
    return int(match.group(1)) if match else None


def _step_key(name: str) -> tuple[int, str]:
    match = _STEP_DIR.match(name)
    return (int(match.group(1)) if match else -1, name)


def _list_files(folder: Path) -> list[StagedFile]:
    return [
        StagedFile(p.relative_to(folder).as_posix(), p.stat().st_size)
        for p in sorted(folder.rglob("*"), key=lambda p: (p.relative_to(folder).parts[:-1] != (), p.as_posix()))
        if p.is_file()
    ]


def _readable_text(path: Path) -> str:
    """A text file's content, or a safetensors file's JSON header (the only text it holds)."""
    if path.suffix == ".safetensors":
        with path.open("rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                return ""
            (length,) = struct.unpack("<Q", head)
            return fh.read(min(length, 100_000_000)).decode("utf-8", errors="replace")
    return path.read_text(encoding="utf-8", errors="replace")


def _bounded_matches(text: str, needle: str) -> Iterator[int]:
    """Start offsets of ``needle`` in ``text`` not preceded or followed by a letter or digit."""
    start = text.find(needle)
    while start != -1:
        end = start + len(needle)
        before = text[start - 1] if start else ""
        after = text[end] if end < len(text) else ""
        if not (before and _ALNUM.match(before)) and not (after and _ALNUM.match(after)):
            yield start
        start = text.find(needle, start + 1)


def _contains_secret(folder: Path, secret: str) -> bool:
    return any(secret in _readable_text(p) for p in folder.rglob("*") if p.is_file())


def _human_bytes(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"


# --------------------------------------------------------------------------- upload


def _validate_repo_id(repo_id: str) -> None:
    if not _HUB_ID.match(repo_id) or len(repo_id) > 200:
        raise HomecatError(
            f"'{repo_id}' is not a Hub repository id: use namespace/name with letters, digits, '-', '_' or '.'."
        )


def _upload(
    staging: Path,
    *,
    repo_id: str,
    private: bool,
    token: str,
    endpoint: str | None,
    timeout_sec: float,
    commit_message: str,
) -> tuple[str, bool, str]:
    """Create the repository if needed and send the staging folder as one commit.

    Returns (repo id as the Hub names it, whether it is private, commit URL).
    """
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint, token=token)
    with _hub_errors(api.endpoint, repo_id, timeout_sec), _request_timeout(timeout_sec):
        repo_url = api.create_repo(repo_id, private=private, exist_ok=True)
        repo_id = repo_url.repo_id or repo_id
        info = api.repo_info(repo_id, timeout=timeout_sec)
        is_private = private if info.private is None else bool(info.private)
        if private and not is_private:
            raise HomecatError(
                f"The repository {repo_id} already exists and is public; nothing was pushed "
                "(make it private on the Hub, or pass --public to publish)."
            )
        commit = api.upload_folder(repo_id=repo_id, folder_path=staging, commit_message=commit_message)
    return repo_id, is_private, commit.commit_url


@contextmanager
def _request_timeout(seconds: float) -> Iterator[None]:
    """Give huggingface_hub's shared HTTP client a timeout for the push (its default is none)."""
    from huggingface_hub import get_session

    session = get_session()
    if not hasattr(session, "timeout"):  # a custom client without timeouts: leave it alone
        yield
        return
    previous = session.timeout
    session.timeout = seconds
    try:
        yield
    finally:
        session.timeout = previous


@contextmanager
def _hub_errors(endpoint: str, repo_id: str, timeout_sec: float) -> Iterator[None]:
    """Turn huggingface_hub and HTTP-library errors into one sentence each (never with the token)."""
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, OfflineModeIsEnabled

    try:
        yield
    except OfflineModeIsEnabled:
        raise HomecatError("HF_HUB_OFFLINE is set, so nothing can be pushed: unset it and try again.") from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code if getattr(exc, "response", None) is not None else None
        if status == 401:
            raise HomecatError(
                f"The Hub at {endpoint} rejected the token (HTTP 401): check HF_TOKEN, which must be a valid "
                "token with write access; nothing was pushed."
            ) from None
        if status == 403:
            raise HomecatError(
                f"The token may not write to {repo_id} (HTTP 403): use a token with write access to that "
                "namespace; nothing was pushed."
            ) from None
        detail = (exc.server_message or "").strip().splitlines()
        detail_text = f": {detail[0]}" if detail else ""
        raise HomecatError(f"The Hub refused the push to {repo_id} (HTTP {status}{detail_text}); nothing was pushed.") from None
    except HFValidationError:
        raise HomecatError(
            f"'{repo_id}' is not a Hub repository id: use namespace/name with letters, digits, '-', '_' or '.'."
        ) from None
    except ValueError as exc:
        if str(exc).startswith("Invalid metadata in README.md"):
            lines = [line.lstrip("- ") for line in str(exc).splitlines()[1:] if line.strip()]
            raise HomecatError(f"The Hub rejected the model card's metadata ({'; '.join(lines) or 'no reason given'}).") from None
        raise
    except Exception as exc:
        reason = _network_failure(exc, timeout_sec)
        if reason is None:
            raise
        raise HomecatError(f"Could not reach the Hugging Face Hub at {endpoint} ({reason}); nothing was pushed.") from None


def _network_failure(exc: BaseException, timeout_sec: float) -> str | None:
    """A short reason if ``exc`` is a connection failure or timeout of whichever HTTP library is loaded.

    huggingface_hub 1.x and 2.x use httpx / httpx2 (0.x used requests); only libraries already
    imported can have raised, so only those are looked at.
    """
    timeouts: list[type] = [TimeoutError]
    failures: list[type] = [ConnectionError]
    for name in ("httpx2", "httpx"):
        module = sys.modules.get(name)
        if module is not None:
            timeouts.append(module.TimeoutException)
            failures.append(module.TransportError)
    requests = sys.modules.get("requests")
    if requests is not None:
        timeouts.append(requests.Timeout)
        failures.append(requests.ConnectionError)
    if isinstance(exc, tuple(timeouts)):
        return f"no answer within {timeout_sec:g} s"
    if isinstance(exc, tuple(failures)):
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return "connection refused" if "refused" in first.lower() else first
    return None
