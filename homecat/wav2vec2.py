"""wav2vec2 models as train, embed and evaluate use them: loaded quietly, fed normalised input.

``load_quietly`` loads a model for a command that reports missing weights itself, in one sentence
(embed, evaluate); ``normalise_crops`` is the feature extractor's per-input normalisation on a batch
(the trainer, its dev evaluation, embed). Hub ids on offline nodes: ``homecat.hub_loading``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from homecat.errors import HomecatError, first_line
from homecat.hub_loading import hub_load_kwargs


def normalise_crops(batch: torch.Tensor, do_normalize: bool) -> torch.Tensor:
    """Zero mean, unit variance per crop, exactly as Wav2Vec2FeatureExtractor does (eps 1e-7)."""
    if not do_normalize:
        return batch
    x = batch.double()
    mean = x.mean(dim=1, keepdim=True)
    var = x.var(dim=1, unbiased=False, keepdim=True)
    return ((x - mean) / torch.sqrt(var + 1e-7)).float()


@dataclass
class Pretrained:
    """A model loaded by ``load_quietly``: the weights it lacked, and where its feature extractor is."""

    name: str
    model: Any
    missing_keys: list[str]
    hub: dict[str, Any]  # the from_pretrained keywords that found the model (local_files_only offline)

    def extractor(self) -> Any | None:
        """The model's Wav2Vec2FeatureExtractor, or None when it has no preprocessor_config.json."""
        from transformers import Wav2Vec2FeatureExtractor

        try:
            return Wav2Vec2FeatureExtractor.from_pretrained(self.name, **self.hub)
        except OSError:
            return None


@contextmanager
def no_progress_bars() -> Iterator[None]:
    """transformers' tqdm bars off inside the block (loading, "Writing model shards" on every checkpoint): a
    batch job's log file gets the command's own lines, not bars; the earlier state comes back after it."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def load_quietly(model_class: Any, name: str) -> Pretrained:
    """``model_class.from_pretrained(name)`` (a folder or a Hub id given as --model) without transformers'
    warnings and progress bars: the caller judges ``missing_keys`` and says what they mean in one sentence."""
    from transformers.utils import logging as hf_logging

    hub = hub_load_kwargs(name, "--model")  # fails in seconds on an offline node
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # missing weights are reported by the caller
    try:
        with no_progress_bars():  # a bar per load would drown the command's own progress
            model, info = model_class.from_pretrained(name, output_loading_info=True, **hub)
    except (OSError, ValueError) as exc:
        raise HomecatError(
            f"Cannot load the model {name!r} ({first_line(exc)}); offline, pass a local model folder."
        ) from None
    finally:
        hf_logging.set_verbosity(verbosity)
    return Pretrained(name, model, list(info.get("missing_keys", ())), hub)
