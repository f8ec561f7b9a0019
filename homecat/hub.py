"""Publish a trained model to the Hugging Face Hub: stage, check, upload (``homecat push``).

Everything that would be sent is first built in a staging folder, ``<run>/hub_staging/``
(``<checkpoint>/hub_staging/`` for a checkpoint outside a run folder). It is replaced on every
push and kept afterwards, so you can read exactly what went out (or, with ``dry_run``, what
would go out)::

    model.safetensors  config.json  preprocessor_config.json   from final/ or the checkpoint
    README.md                                                  the model card (from trainer_state.json)
    checkpoints/step_N/{the three model files}                 with include_checkpoints, one per checkpoint

Nothing else of the run is ever sent: not the optimizer state, not config.yaml, never index/.
Before anything is sent, the staging folder passes the privacy check of homecat.modelcard (JSON
scrubbed of path-like values; no participant or recording ids, relative or absolute paths); a hit
refuses the push. One push is one commit, so a failed push leaves the repository as it was.

The token (``hub.token``: HF_TOKEN, from the environment or .env, and no other name) is handed to ``HfApi``
and nothing else: it is never printed, logged, written to a staged file or put in an exception message; what
the Hub answers passes ``redact``, which finds the token in any case, with or without ``hf_``, URL- or
base64-encoded. Each Hub call runs under one deadline, ``hub.request_timeout_sec`` (see ``_Deadline``).
"""

from __future__ import annotations

import base64
import contextvars
import json
import logging
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from homecat import __version__
from homecat.errors import HomecatError
from homecat.evidence import gather
from homecat.modelcard import (
    HUB_ID,
    contains_secret,
    find_identifiers,
    index_identifiers,
    model_card,
    scrub_paths,
    step_number,
    trainer_state,
)
from homecat.settings import HubSettings, Settings

MODEL_FILES = ("model.safetensors", "config.json", "preprocessor_config.json")
CARD_FILE = "README.md"
STAGING_DIR = "hub_staging"


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
    without_probe_evidence: bool = False,
) -> PushResult:
    """Stage the model of a run (``run/final``) or a checkpoint, check it, and upload it.

    ``settings.hub`` gives the repository, visibility, card license/language and the token
    (flags reach it as settings overrides). Without ``run`` or ``checkpoint`` the newest finished
    run under ``<artifacts_dir>/training`` is used. ``endpoint`` defaults to huggingface_hub's
    (``HF_ENDPOINT``, else https://huggingface.co). ``dry_run`` stages and checks but sends
    nothing and needs no token. The card shows probe results only of the weights pushed; without any,
    the push (dry run too) is refused unless ``without_probe_evidence``. Raises ``HomecatError`` with one
    sentence on every failure.
    """
    hub = settings.hub
    token: str | None = None
    repo_id = hub.repo_id
    if not dry_run:
        token = hub.token.get_secret_value().strip() if hub.token is not None else ""
        if not token:
            raise HomecatError("No Hugging Face token: set HF_TOKEN in the environment or in .env (see .env.example).")
        if not repo_id:
            raise HomecatError("No Hub repository: set HF_REPO_ID in the environment or in .env, or pass --repo-id.")
        _validate_repo_id(repo_id)

    staged = stage(
        settings, run=run, checkpoint=checkpoint, include_checkpoints=include_checkpoints,
        without_probe_evidence=without_probe_evidence,
    )  # fmt: skip
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
    if contains_secret(staged.staging_dir, token):
        raise HomecatError(f"Refusing to push: the Hub token appears in a staged file under {staged.staging_dir}.")
    step = step_number(staged.source.name)
    message = (
        f"Upload wav2vec2 model{f' (checkpoint step {step})' if step is not None else ''} with homecat {__version__}"
    )
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
    without_probe_evidence: bool = False,
) -> Staged:
    """Build the staging folder (model files, scrubbed JSON, model card) and run the privacy check."""
    _refuse_token_in_repo_id(settings.hub)
    source, run_dir = _resolve_source(settings, run, checkpoint)
    if include_checkpoints and checkpoint is not None:
        raise HomecatError(
            "--include-checkpoints goes with --run (it pushes that run's checkpoints), not --checkpoint."
        )
    notes: list[str] = []

    staging = (run_dir or source) / STAGING_DIR
    try:
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        scrubbed = _stage_model(source, staging)
        checkpoints: list[Path] = []
        if include_checkpoints:
            assert run_dir is not None
            checkpoints = _checkpoints(run_dir, notes)
        for ckpt in checkpoints:
            scrubbed += _stage_model(ckpt, staging / "checkpoints" / ckpt.name, prefix=f"checkpoints/{ckpt.name}/")
        card = model_card(
            trainer_state(source, run_dir, notes),
            settings.hub,
            checkpoint=source.name if checkpoint is not None else None,
            checkpoints=[ckpt.name for ckpt in checkpoints],
            evidence=gather(
                run_dir, source, settings.paths.catalog, notes, without_probe_evidence=without_probe_evidence
            ),
        )
        unset = [name for name, value in (("hub.license", settings.hub.license != "unknown"),
                                          ("hub.language", bool(settings.hub.language))) if not value]  # fmt: skip
        if unset:
            notes.append(f"{' and '.join(unset)} not set: the card says license 'unknown' and no language; "
                         "set them (and hub.card_tags) in your config")  # fmt: skip
        (staging / CARD_FILE).write_text(card, encoding="utf-8")
    except OSError as exc:
        raise HomecatError(f"Could not build the staging folder {staging}: {exc.strerror or exc}.") from exc
    if scrubbed:
        notes.append(f"left out of the JSON files (path-like): {', '.join(sorted(set(scrubbed)))}")

    forbidden = index_identifiers(run_dir, notes) if run_dir is not None else {}
    if run_dir is None:
        notes.append(
            f"{source} is not inside a run folder: checked for absolute paths only (no index/ to check against)"
        )
    findings = find_identifiers(staging, forbidden)
    if findings:
        shown = findings[:10] + ([f"… and {len(findings) - 10} more."] if len(findings) > 10 else [])
        raise HomecatError(
            f"Refusing to push: the staged files under {staging} name participants or paths; nothing was sent.",
            *shown,
        )
    return Staged(source=source, staging_dir=staging, files=_list_files(staging), card=card, notes=notes)


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
        if not ckpt.is_dir() or step_number(ckpt.name) is None:
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
        clean = scrub_paths(data, removed, f"{prefix}{name}:")
        (target / name).write_text(json.dumps(clean, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return removed


def _step_key(name: str) -> tuple[int, str]:
    step = step_number(name)
    return (-1 if step is None else step, name)


def _list_files(folder: Path) -> list[StagedFile]:
    return [
        StagedFile(p.relative_to(folder).as_posix(), p.stat().st_size)
        for p in sorted(folder.rglob("*"), key=lambda p: (p.relative_to(folder).parts[:-1] != (), p.as_posix()))
        if p.is_file()
    ]


def _human_bytes(size: float) -> str:
    if size < 1024:
        return f"{size:.0f} B"
    for unit in ("KB", "MB"):
        size /= 1024
        if size < 1024:
            return f"{size:.1f} {unit}"
    return f"{size / 1024:.1f} GB"


# --------------------------------------------------------------------------- upload


def _refuse_token_in_repo_id(hub: HubSettings) -> None:
    """A token pasted into HF_REPO_ID would be written into the card and sent as a name: refuse it (a token-like
    value is refused when the settings load; this catches the configured token in any case, prefix or not)."""
    token = hub.token.get_secret_value().strip() if hub.token is not None else ""
    if not token or not hub.repo_id:
        return
    bare = token[3:] if token.lower().startswith("hf_") else token
    if any(len(v) >= _MIN_VARIANT_LEN and v.lower() in hub.repo_id.lower() for v in (token, bare)):
        raise HomecatError(
            "The Hub repository id contains the Hub token (HF_TOKEN): set HF_REPO_ID or --repo-id to "
            "namespace/name; nothing was staged."
        )


def _validate_repo_id(repo_id: str) -> None:
    if not HUB_ID.match(repo_id) or len(repo_id) > 200:
        raise _bad_repo_id(repo_id)


def _bad_repo_id(repo_id: str) -> HomecatError:
    return HomecatError(
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
    with (
        _hub_errors(api.endpoint, repo_id, timeout_sec, token),
        _redacted_logs(token),
        _request_timeout(timeout_sec),
    ):
        with _deadline(timeout_sec):
            repo_url = api.create_repo(repo_id, private=private, exist_ok=True)
        repo_id = repo_url.repo_id or repo_id
        with _deadline(timeout_sec):
            info = api.repo_info(repo_id, timeout=timeout_sec)
        is_private = private if info.private is None else bool(info.private)
        if private and not is_private:
            raise HomecatError(
                f"The repository {repo_id} already exists and is public; nothing was pushed "
                "(make it private on the Hub, or pass --public to publish)."
            )
        with _deadline(timeout_sec):
            commit = api.upload_folder(repo_id=repo_id, folder_path=staging, commit_message=commit_message)
    return repo_id, is_private, commit.commit_url


# --------------------------------------------------------------------------- transport: deadlines, redacted logs
#
# httpx's timeouts bound each socket operation, not a request: a server that trickles one byte every few seconds
# (or a proxy that keeps a connection alive) never trips them, and huggingface_hub may retry on top. So each Hub
# call of a push (create the repository, read its settings, upload the commit) runs under one deadline of
# hub.request_timeout_sec: every connect and read of huggingface_hub's shared client waits at most until then.
# Time spent sending the request body (the weights, on a slow uplink) extends it by as long as the sending took,
# so a large upload is bounded by its progress, not by the setting.


class DeadlinePassed(TimeoutError):
    """A Hub call ran past hub.request_timeout_sec (a TimeoutError: huggingface_hub does not retry it)."""


class _Deadline:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expires = time.monotonic() + seconds

    def bound(self, timeout: float | None) -> float:
        """The timeout for the next socket operation: what is left of the deadline, at most ``timeout``."""
        left = self.expires - time.monotonic()
        if left <= 0:
            raise DeadlinePassed(f"no answer within {self.seconds:g} s")
        return left if timeout is None else min(timeout, left)


_DEADLINE: contextvars.ContextVar[_Deadline | None] = contextvars.ContextVar("homecat_hub_deadline", default=None)


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    token = _DEADLINE.set(_Deadline(seconds))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _bound(timeout: float | None) -> float | None:
    deadline = _DEADLINE.get()
    return timeout if deadline is None else deadline.bound(timeout)


class _DeadlineStream:
    """A network stream of httpcore whose reads (and connects) end at the current deadline."""

    def __init__(self, inner: Any):
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bound(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        start = time.monotonic()
        try:
            self._inner.write(buffer, timeout)
        finally:
            deadline = _DEADLINE.get()
            if deadline is not None:
                deadline.expires += time.monotonic() - start  # sending is progress: it does not use up the deadline

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> Any:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _bound(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend:
    """httpcore's network backend (sockets), with every stream it opens under the current deadline."""

    def __init__(self, inner: Any):
        self.inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, **kwargs: Any) -> _DeadlineStream:
        return _DeadlineStream(self.inner.connect_tcp(host, port, _bound(timeout), **kwargs))

    def connect_unix_socket(self, path: str, timeout: float | None = None, **kwargs: Any) -> _DeadlineStream:
        return _DeadlineStream(self.inner.connect_unix_socket(path, _bound(timeout), **kwargs))

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


@contextmanager
def _request_timeout(seconds: float) -> Iterator[None]:
    """Give huggingface_hub's shared HTTP client a timeout per socket operation (its default is none) and put its
    connection pools (direct and through proxies) on the deadline backend, for the push."""
    from huggingface_hub import get_session

    session = get_session()
    if not hasattr(session, "timeout"):  # a custom client without timeouts: leave it alone
        yield
        return
    previous = session.timeout
    session.timeout = seconds
    transports = [getattr(session, "_transport", None), *getattr(session, "_mounts", {}).values()]
    pools = [getattr(t, "_pool", None) for t in transports]
    pools = [pool for pool in pools if pool is not None and hasattr(pool, "_network_backend")]
    for pool in pools:
        pool._network_backend = _DeadlineBackend(pool._network_backend)
    try:
        yield
    finally:
        session.timeout = previous
        for pool in pools:
            if isinstance(pool._network_backend, _DeadlineBackend):
                pool._network_backend = pool._network_backend.inner


class _RedactFilter(logging.Filter):
    def __init__(self, token: str):
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage(), self.token), ()
        return True


@contextmanager
def _redacted_logs(token: str) -> Iterator[None]:
    """What huggingface_hub (or anything else) logs during the push passes ``redact`` on every handler."""
    handlers = {h for name in ("", "huggingface_hub", "httpx2", "httpcore2") for h in logging.getLogger(name).handlers}
    flt = _RedactFilter(token)
    for handler in handlers:
        handler.addFilter(flt)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(flt)


@contextmanager
def _hub_errors(endpoint: str, repo_id: str, timeout_sec: float, token: str) -> Iterator[None]:
    """Turn huggingface_hub and HTTP-library errors into one sentence each (never with the token).

    What the server or a library says is printed only after ``redact``: a server may echo headers.
    """
    try:
        with _hub_sentences(endpoint, repo_id, timeout_sec):
            yield
    except HomecatError as exc:
        raise HomecatError(*(redact(line, token) for line in exc.lines)) from None


def redact(text: str, token: str | None = None) -> str:
    """``text`` without the token, or anything that looks like one (``hf_…``, ``Bearer …``, ``token=…``).

    The token is found as sent or as a server may echo it: with or without its ``hf_`` prefix, in any case,
    URL-encoded, or base64-encoded (as in a ``Basic`` header, at any offset in the encoded text).
    """
    if token:
        for pattern in _token_patterns(token):
            text = pattern.sub("…", text)
    return _TOKEN_LIKE.sub(lambda m: f"{m.group(1)}…", text)


_MIN_VARIANT_LEN = 6  # shorter cores (a token of a few characters) would blank out ordinary words


def _token_patterns(token: str) -> list[re.Pattern[str]]:
    """Patterns for the spellings of ``token`` a server could echo; longest first, so a core never splits one."""
    bare = token[3:] if token.lower().startswith("hf_") else token
    plain = {token, bare}
    folded = plain | {quote(v, safe="") for v in plain} | {quote_plus(v, safe="") for v in plain}
    cased = {case(v) for v in plain for case in (str, str.upper, str.lower)}
    exact: set[str] = set()
    for value in cased | {f"Bearer {token}", f":{token}", f"{token}:"}:
        exact |= _base64_cores(value.encode())
    patterns = [(v, re.IGNORECASE) for v in folded if len(v) >= _MIN_VARIANT_LEN]
    patterns += [(v, 0) for v in exact if len(v) >= _MIN_VARIANT_LEN]
    patterns.sort(key=lambda item: -len(item[0]))
    return [re.compile(re.escape(v), flags) for v, flags in patterns]


def _base64_cores(data: bytes) -> set[str]:
    """The part of base64(… + data + …) that does not depend on the bytes around ``data``, for each of the three
    alignments, in the standard and the URL-safe alphabet (with or without padding, the core is the same)."""
    cores = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode().rstrip("=")
        start = (offset * 4 + 2) // 3  # characters that also carry bits of the bytes before
        end = len(encoded) - (1 if (offset + len(data)) % 3 else 0)  # the last one may carry bits of the bytes after
        core = encoded[start:end]
        cores |= {core, core.replace("+", "-").replace("/", "_")}
    return cores


# Bearer/Basic credentials, token=/api_key= pairs, and Hugging Face tokens (hf_ and api_org_ prefixes)
_TOKEN_LIKE = re.compile(
    r"((?i:bearer|basic)\s+|(?i:token|api[_-]?key|authorization)[\"']?\s*[:=]\s*[\"']?(?!(?i:bearer|basic)\s)"
    r"|\b(?:hf_|api_org_))"
    r"[A-Za-z0-9_\-.~+/=]{4,}"
)


@contextmanager
def _hub_sentences(endpoint: str, repo_id: str, timeout_sec: float) -> Iterator[None]:
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
        raise HomecatError(
            f"The Hub refused the push to {repo_id} (HTTP {status}{detail_text}); nothing was pushed."
        ) from None
    except HFValidationError:
        raise _bad_repo_id(repo_id) from None
    except json.JSONDecodeError:
        raise HomecatError(
            f"The Hub at {endpoint} answered with something that is not JSON (is HF_ENDPOINT a Hub, or is a proxy "
            "or login page in between?); nothing was pushed."
        ) from None
    except ValueError as exc:
        if str(exc).startswith("Invalid metadata in README.md"):
            lines = [line.lstrip("- ") for line in str(exc).splitlines()[1:] if line.strip()]
            raise HomecatError(
                f"The Hub rejected the model card's metadata ({'; '.join(lines) or 'no reason given'})."
            ) from None
        raise
    except Exception as exc:
        reason = _network_failure(exc, timeout_sec)
        if reason is None:
            raise
        raise HomecatError(
            f"Could not reach the Hugging Face Hub at {endpoint} ({reason}); nothing was pushed."
        ) from None


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
