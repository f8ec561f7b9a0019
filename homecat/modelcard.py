"""The model card and the privacy check of ``homecat push`` (staging and upload are in homecat.hub).

The card (README.md of the Hub repository) is built from a few numbers and free-text fields of the run's
``trainer_state.json``; every missing or malformed field reads "not recorded".

The privacy check keeps participants and paths off the Hub. The staged JSON files are scrubbed of
path-like values (``_name_or_path`` and friends). Every staged text file and the safetensors header
are scanned for the run's participant ids, recording ids and relative paths (read from
``index/*.parquet``) and for absolute paths, and for the Hub token; ``homecat.hub`` refuses the push
on any hit. Identifiers match whole words after folding case, accents, spaces and punctuation, so
participant "fam 02" is found in "me/Fam-02" and "FAM02".
"""

from __future__ import annotations

import json
import math
import re
import struct
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from homecat import __version__
from homecat.errors import HomecatError
from homecat.settings import HubSettings

NOT_RECORDED = "not recorded"
CARD_TAGS = ["wav2vec2", "self-supervised-learning", "audio"]  # then hub.card_tags
_STEP_DIR = re.compile(r"^step_(\d+)$")  # a checkpoint folder
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")  # namespace/name (or name)

# Index columns whose values identify families or files; their values must never be pushed.
_IDENTIFYING_COLUMN = re.compile(r"participant|family|child|speaker|subject|path|file|recording|session|date", re.I)
# Values too generic to search for (participant_id is 'unknown' when the regex does not match).
_GENERIC_VALUES = {"unknown", "none", "null", "nan", "n/a", "na", "missing", "train", "dev", "test"}
_MIN_IDENTIFIER_LEN = 3
# Matching folds case, accents, spaces and punctuation (normalise): runs of these become one space.
_SEPARATORS = re.compile(r"[\W_]+")
_LETTER_DIGIT = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")  # between 'fam' and '02' in 'fam02'
_ABSOLUTE_PATH = re.compile(
    r"(?<![\w.~:/\\-])/[\w.-]+/[\w./-]*"  # /home/me/…  (not the // of a URL, not a/b)
    r"|(?<![\w])~/[\w./-]+"  # ~/data/…
    r"|(?<![\w])[A-Za-z]:(?:\\\\|\\|/)[\w.][\w.\\/-]*"  # C:\… C:/… (and C:\\… inside JSON)
    r"|\\\\[\w.-]+\\"  # \\server\share
    r"|file:/"
)
_PATH_KEYS = {"_name_or_path", "name_or_path"}


# --------------------------------------------------------------------------- model card


def model_card(
    state: Mapping[str, Any],
    hub: HubSettings,
    *,
    checkpoint: str | None = None,
    checkpoints: list[str] | None = None,
    evidence: Any = None,
) -> str:
    """The README.md of the repository: YAML metadata, training summary, usage, intended use and limits.

    ``checkpoint`` names the checkpoint folder (``step_N``) when the card is for one; ``checkpoints``
    lists the checkpoint folders pushed beside the final model. Built only from numbers and a few
    free-text fields of trainer_state.json; every missing or malformed field reads "not recorded".
    ``evidence`` (homecat.evidence.Evidence): dev figures and probe results, as text and as model-index.
    """
    # trainer_state.json says base_model: null for a model built from random initialisation
    random_init = "base_model" in state and state["base_model"] is None
    base_model, base_local = _base_model(state.get("base_model"), hub.card_base_model)
    tags = list(dict.fromkeys(CARD_TAGS + list(hub.card_tags)))
    meta = {
        **({} if random_init else {"base_model": base_model}),
        "library_name": "transformers",
        "pipeline_tag": "feature-extraction",
        "license": hub.license,
        **({"language": list(hub.language)} if hub.language else {}),
        "tags": tags,
    }
    repo_id = hub.repo_id or "your-namespace/your-model"
    title = repo_id.split("/")[-1]
    results = evidence.eval_results() if evidence is not None else []
    if results:
        from huggingface_hub import ModelCardData

        meta["model-index"] = ModelCardData(model_name=title, eval_results=results).to_dict()["model-index"]
    evidence_text = evidence.markdown() if evidence is not None else ""
    evidence_text += "\n\n" if evidence_text else ""
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
    origin = (
        "a randomly initialised model after self-supervised pretraining"
        if random_init
        else f"{base_text} after continued\nself-supervised pretraining"
    )

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
        step = step_number(checkpoint)
        what = f"an intermediate checkpoint ({f'step {step:,}' if step is not None else checkpoint}) of the run"
    extra = ""
    if checkpoints:
        listed = ", ".join(f"`checkpoints/{name}/`" for name in checkpoints)
        extra = (
            f"\nIntermediate checkpoints are in folders of this repository ({listed}); load one with "
            f'`Wav2Vec2Model.from_pretrained("{repo_id}", subfolder="checkpoints/{checkpoints[-1]}")`.\n'
        )

    body = f"""# {title}

A [wav2vec 2.0](https://arxiv.org/abs/2006.11477) speech encoder: {origin} (the contrastive and diversity objectives of `Wav2Vec2ForPreTraining`)
on long-form home recordings of parents and infants. Language(s) of the recordings: {languages}.
This repository holds {what}, prepared with homecat {__version__}.

## Training summary

Dev figures come from held-out families: the train/dev split groups recordings by participant, so no
participant's audio is in both. Training read random crops of the given length from the recordings;
losses and perplexities are those logged at the step shown.

{table}

{evidence_text}## How to use

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


def trainer_state(source: Path, run_dir: Path | None, notes: list[str]) -> dict[str, Any]:
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
    step = step_number(source.name)
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
    if isinstance(recorded, str) and HUB_ID.match(recorded.strip()) and not Path(recorded.strip()).exists():
        return recorded.strip(), False
    return fallback, isinstance(recorded, str) and bool(recorded.strip())


def step_number(name: str) -> int | None:
    """N for a checkpoint folder named ``step_N``, else None."""
    match = _STEP_DIR.match(name)
    return int(match.group(1)) if match else None


# --------------------------------------------------------------------------- privacy check


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
    needles = [(f" {form} ", value, origin) for value, origin in forbidden.items() for form in _forms(value)]
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        text = _readable_text(path)
        # each line folded on its own and padded, so " needle " is a whole-word match within one line
        folded = "\n".join(f" {normalise(line)} " for line in text.split("\n"))
        found: set[tuple[int, str, str]] = set()  # (line, value, origin): one sentence however many forms match
        for needle, value, origin in needles:
            start = folded.find(needle)
            while start != -1:
                found.add((folded.count("\n", 0, start) + 1, value, origin))
                start = folded.find(needle, start + 1)
        findings += [f"{rel} line {line} contains '{value}' ({origin})." for line, value, origin in sorted(found)]
        for match in _ABSOLUTE_PATH.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            findings.append(f"{rel} line {line} contains an absolute path '{match.group(0)}'.")
    return findings


def normalise(text: str) -> str:
    """Case, accents and every run of spaces and punctuation folded: 'Me/Fám-02_x' -> 'me fam 02 x'."""
    if not text.isascii():
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return _SEPARATORS.sub(" ", text.casefold()).strip()


def _forms(value: str) -> set[str]:
    """The folded ways ``value`` can be written: 'fam 02' also as 'fam02', and 'fam02' also as 'fam 02'."""
    spaced = normalise(value)
    forms = {spaced, spaced.replace(" ", ""), _LETTER_DIGIT.sub(" ", spaced)}
    # a form as short as a common word would flag ordinary text
    return {form for form in forms if len(form.replace(" ", "")) >= _MIN_IDENTIFIER_LEN}


def contains_secret(folder: Path, secret: str) -> bool:
    """Whether ``secret`` appears verbatim in a file under ``folder`` (text, or a safetensors header)."""
    return any(secret in _readable_text(p) for p in folder.rglob("*") if p.is_file())


def scrub_paths(value: Any, removed: list[str], where: str) -> Any:
    """``value`` (parsed JSON) without path-like keys and strings; their dotted keys, after ``where``, go to ``removed``."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in _PATH_KEYS or (isinstance(item, str) and _looks_like_path(item)):
                removed.append(f"{where}{key}")
                continue
            out[key] = scrub_paths(item, removed, f"{where}{key}.")
        return out
    if isinstance(value, list):
        kept = [item for item in value if not (isinstance(item, str) and _looks_like_path(item))]
        if len(kept) != len(value):
            removed.append(where.rstrip("."))
        return [scrub_paths(item, removed, where) for item in kept]
    return value


def _looks_like_path(value: str) -> bool:
    value = value.strip()
    return (
        value.startswith(("/", "~", "./", "../", "\\\\", "file:"))
        or bool(re.match(r"^[A-Za-z]:[\\/]", value))
        or bool(_ABSOLUTE_PATH.search(value))
    )


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
