"""The model side of training: loading or building Wav2Vec2ForPreTraining, the check for newly initialised
weights, how the model is set up for training (layerdrop, frozen encoder, gradient checkpointing), the
optimizer, and the Gumbel temperature schedule.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from homecat.errors import HomecatError, first_line
from homecat.hub_loading import hub_load_kwargs
from homecat.settings import TrainingSettings

log = logging.getLogger("homecat.train")  # one logger name for the whole trainer

# Weights a current transformers re-creates when loading wav2vec2-base: the weight-norm of the positional
# convolution is stored under old names (weight_g/weight_v) and renamed; harmless (TRAINING-NOTES).
_COSMETIC_NEW = ("pos_conv_embed.conv.parametrizations.weight.original", "pos_conv_embed.conv.weight_")


def gumbel_schedule(t: TrainingSettings, pretrained: bool) -> str:
    """ "restart" (from gumbel_max) or "continue" (at the floor, where the base checkpoint ended); "auto" picks."""
    return t.gumbel_schedule if t.gumbel_schedule != "auto" else ("continue" if pretrained else "restart")


def gumbel_temperature(t: TrainingSettings, update: int, pretrained: bool) -> float:
    """Temperature for optimizer update ``update`` (0-based): fairseq's max(max * decay**update, min)."""
    if gumbel_schedule(t, pretrained) == "continue":
        return t.gumbel_min
    return max(t.gumbel_max * t.gumbel_decay**update, t.gumbel_min)


def load_model(t: TrainingSettings, sample_rate: int, checkpoint: Path | None = None) -> tuple[Any, Any, bool]:
    """(Wav2Vec2ForPreTraining, Wav2Vec2FeatureExtractor, pretrained?) — from a checkpoint when resuming."""
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForPreTraining

    if checkpoint is not None:  # the architecture comes from the checkpoint, not from the settings
        model = Wav2Vec2ForPreTraining.from_pretrained(checkpoint)
        extractor = Wav2Vec2FeatureExtractor.from_pretrained(checkpoint)
        pretrained = t.base_model is not None
    elif t.base_model is None:
        try:
            config = Wav2Vec2Config(**t.model_overrides)
        except Exception as exc:  # TypeError, ValueError, or huggingface_hub's strict-dataclass errors
            reason = str(exc).strip().splitlines()[-1].strip()
            raise HomecatError(f"training.model_overrides is not a valid Wav2Vec2Config: {reason}") from None
        model = Wav2Vec2ForPreTraining(config)
        extractor = Wav2Vec2FeatureExtractor(
            feature_size=1, sampling_rate=sample_rate, padding_value=0.0, do_normalize=True, return_attention_mask=False
        )
        log.warning("training.base_model is null: a randomly initialised model built from training.model_overrides.")
        pretrained = False
    else:
        hub = hub_load_kwargs(t.base_model, "training.base_model")  # fails in seconds on an offline node
        try:
            model, info = Wav2Vec2ForPreTraining.from_pretrained(
                t.base_model, output_loading_info=True, **hub, **t.model_overrides
            )
            extractor = Wav2Vec2FeatureExtractor.from_pretrained(t.base_model, **hub)
        except OSError as exc:
            raise HomecatError(
                f"Cannot load training.base_model {t.base_model!r} ({first_line(exc)}). Offline, point it "
                "at a local copy, or set it to null to train a random model built from training.model_overrides."
            ) from None
        fresh = [k for k in info.get("missing_keys", ()) if not any(c in k for c in _COSMETIC_NEW)]
        if fresh:
            log.error(
                "NEWLY INITIALISED weights not in %s (continued pretraining starts partly from scratch): %s",
                t.base_model,
                ", ".join(sorted(fresh)),
            )
        pretrained = True
    if extractor.sampling_rate != sample_rate:
        raise HomecatError(
            f"The model expects {extractor.sampling_rate} Hz audio but data.sample_rate is {sample_rate}."
        )
    model.config.diversity_loss_weight = t.diversity_loss_weight
    return model, extractor, pretrained


def prepare_model(model: Any, t: TrainingSettings, world: int) -> float:
    """Layerdrop, frozen feature encoder, gradient checkpointing as the settings say; returns the layerdrop
    that config.json keeps, whatever training uses."""
    saved_layerdrop = model.config.layerdrop
    if world > 1 and t.layerdrop_multi_process == "zero" and model.config.layerdrop:
        log.warning(
            "layerdrop %g set to 0 for multi-process training (DDP needs every layer used in every step).",
            model.config.layerdrop,
        )
        model.config.layerdrop = 0.0
    if t.freeze_feature_encoder:
        model.freeze_feature_encoder()
    if t.gradient_checkpointing:
        # non-reentrant: works with a frozen feature encoder and with DDP's unused-parameter search
        kwargs = {"use_reentrant": False}
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x name
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    return saved_layerdrop


def make_optimizer(model: Any, t: TrainingSettings) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on biases and norms)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": t.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=t.learning_rate,
        betas=(0.9, 0.98),  # fairseq's wav2vec 2.0 values
        eps=1e-6,
    )
