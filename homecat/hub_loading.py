"""Loading a model by Hub id on a node that may be offline (train's base_model, embed, evaluate).

Left to itself, ``from_pretrained("facebook/wav2vec2-base")`` on a node without internet retries for about
20 s and ends with a message that names neither ``HF_HUB_OFFLINE`` nor a local copy. Here a Hub id is
checked first: one request with a short timeout tells whether the Hub answers. If it does not, a model already
in the Hugging Face cache loads from there; otherwise one sentence says what to do on a login node.
``HF_HUB_OFFLINE=1`` skips the request (the cache only, as huggingface_hub itself does). A local folder is
loaded as it is.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from homecat.errors import HomecatError

log = logging.getLogger(__name__)

REACH_TIMEOUT_SEC = 3.0  # one HEAD request; an answering Hub replies within a fraction of this


def _what_to_do(name: str) -> str:
    folder = f"models/{name.rstrip('/').split('/')[-1]}"
    return (
        f"on a login node run 'hf download {name} --local-dir {folder}' and pass that folder instead of the id, "
        "or, with the model in the Hugging Face cache, set HF_HUB_OFFLINE=1"
    )


def _is_hub_id(name: str) -> bool:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if Path(name).exists():
        return False
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False  # a path that does not exist: from_pretrained says so
    return True


def _hub_answers(endpoint: str) -> bool:
    from huggingface_hub.utils import get_session  # honours the proxy variables

    try:
        get_session().head(endpoint, timeout=REACH_TIMEOUT_SEC)
    except Exception:  # connection refused, unknown host, timeout, proxy errors: all mean "not reachable"
        return False
    return True  # any HTTP answer, even an error status: from_pretrained reports what it means


def hub_load_kwargs(name: str, setting: str) -> dict[str, Any]:
    """Extra ``from_pretrained`` keywords for ``name`` (``setting`` says where it came from, e.g. "--model"):
    none for a folder or a reachable Hub, ``local_files_only`` when the Hub is out of reach (or HF_HUB_OFFLINE
    is set) and the cache holds the model; raises HomecatError with what to do otherwise."""
    if not _is_hub_id(name):
        return {}
    from huggingface_hub import constants, try_to_load_from_cache

    cached = isinstance(try_to_load_from_cache(name, "config.json"), str)
    if constants.HF_HUB_OFFLINE:
        if cached:
            return {"local_files_only": True}
        raise HomecatError(
            f"{setting} {name!r} is not in the Hugging Face cache and HF_HUB_OFFLINE is set: {_what_to_do(name)}."
        )
    if _hub_answers(constants.ENDPOINT):
        return {}
    if cached:
        log.warning("The Hub (%s) does not answer: loading %s from the Hugging Face cache.", constants.ENDPOINT, name)
        return {"local_files_only": True}
    raise HomecatError(
        f"Cannot reach the Hugging Face Hub ({constants.ENDPOINT}) to load {setting} {name!r} (an offline node?): "
        f"{_what_to_do(name)}."
    )
