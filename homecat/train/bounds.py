"""Settings checked against the model's frame rate and the data before a run writes anything.

A span mask longer than a crop's frames, distractor features too big for the machine's memory (they grow with
num_negatives until the kernel kills the run), or crops longer than every usable train recording: each is one
sentence naming the setting and the numbers, raised before the run folder, the index snapshot or the model exist.

More negatives than a crop has other masked frames is fine: transformers' ``_sample_negative_indices`` (like
fairseq's ``Wav2Vec2Model.sample_negatives``) draws them uniformly WITH replacement from the crop's other masked
frames, so short crops (2 s: ~70 masked frames of wav2vec2-base) keep ``num_negatives`` 100 and some distractors
repeat; the run says so in one note line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from homecat import audio
from homecat.errors import ConfigError
from homecat.settings import Settings, TrainingSettings

_FLOAT_BYTES = 4
# The distractor features live about three times over: gathered, stacked with the target for the cosine
# similarity, and their gradients. A lower bound (activations and the model come on top).
_DISTRACTOR_COPIES = 3


def check_bounds(settings: Settings, checkpoint: Path | None) -> list[str]:
    """Raise ``ConfigError``/``NoCrops`` for settings the model or the data cannot honour (reads no audio);
    returns note lines for settings that work but deserve a word (printed once by the trainer)."""
    if checkpoint is None:  # a resumed run crops from its own snapshot, checked when it began
        check_crop_length(settings)
    config = _model_config(settings.training, checkpoint)
    if config is None:  # a model that cannot be found gets its own sentence when it is loaded
        return []
    notes = check_masking(settings, config)
    check_memory(settings, config, *_memory_bytes())
    return notes


def check_crop_length(settings: Settings) -> None:
    """crops.crop_sec must fit the longest usable train recording (which is named when it does not)."""
    from homecat.catalog import Catalog, named_queries
    from homecat.crops import NoCrops

    query = named_queries("queries/crops.sql")["longest_usable"].sql
    with Catalog.open(settings.paths, read_only=True) as catalog:
        row = catalog.con.execute(query, {"splits": ["train"]}).fetchone()
    if row is None:
        raise NoCrops("No recording can give a crop: run 'homecat validate' and 'homecat split' first.")
    recording_id, frames_read, sample_rate, duration_sec = row
    crop_sec = settings.crops.crop_sec
    if frames_read < audio.seconds_to_frames(crop_sec, sample_rate):
        raise ConfigError(
            f"crops.crop_sec {crop_sec:g} is longer than the longest usable train recording "
            f"({duration_sec:.1f} s, {recording_id}): use shorter crops."
        )


def crop_frames(config: Any, samples: int) -> int:
    """Frames the model's convolutional feature encoder makes of ``samples`` (its kernels and strides)."""
    length = samples
    for kernel, stride in zip(config.conv_kernel, config.conv_stride):
        length = (length - kernel) // stride + 1
    return max(length, 0)


def most_masked_frames(frames: int, t: TrainingSettings) -> int:
    """The most frames transformers' _compute_mask_indices masks in a crop of ``frames`` (spans may overlap)."""
    spans = max(int(t.mask_time_prob * frames / t.mask_time_length + 1), t.mask_time_min_masks)
    spans = min(spans, frames // t.mask_time_length)
    return min(frames, spans * t.mask_time_length)


def check_masking(settings: Settings, config: Any) -> list[str]:
    t = settings.training
    crop_sec = settings.crops.crop_sec
    frames = crop_frames(config, audio.seconds_to_frames(crop_sec, settings.data.sample_rate))
    if t.mask_time_length > frames:
        raise ConfigError(
            f"training.mask_time_length {t.mask_time_length} is longer than the {frames} frames the model makes "
            f"of a {crop_sec:g} s crop (crops.crop_sec): use at most {frames}, or longer crops."
        )
    # transformers gathers K distractors for every frame of the micro-batch, masked or not
    dim = getattr(config, "proj_codevector_dim", 256)
    need = _DISTRACTOR_COPIES * (t.num_negatives + 1) * t.per_gpu_batch * frames * dim * _FLOAT_BYTES
    memory, where = _memory_bytes()
    if need > memory:
        raise ConfigError(
            f"training.num_negatives {t.num_negatives} cannot fit: its distractor features alone take about "
            f"{need / 2**30:.1f} GiB per micro-batch of {t.per_gpu_batch} {crop_sec:g} s crops ({frames} frames, "
            f"{dim} dimensions), more than the {memory / 2**30:.1f} GiB of {where}: lower training.num_negatives "
            "or training.per_gpu_batch."
        )
    masked = most_masked_frames(frames, t)
    if t.num_negatives > masked - 1:
        return [
            f"note: training.num_negatives {t.num_negatives} is more than the {max(masked - 1, 0)} other masked "
            f"frames a {crop_sec:g} s crop has at most: distractors are drawn with replacement (as fairseq and "
            "transformers do), so some repeat."
        ]
    return []


def _memory_bytes() -> tuple[int, str]:
    """Total memory of the device training runs on: the first CUDA device, else the machine's RAM."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_properties(0).total_memory, "GPU memory"
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "memory"


# Bytes per parameter while training: fp32 weights, gradients and AdamW's two moments (mixed precision keeps
# fp32 master weights, so it saves nothing here).
_TRAIN_BYTES_PER_PARAM = 16
_INDEX_BYTES = 8  # torch.long negatives


def parameter_count(config: Any) -> int:
    """Parameters of Wav2Vec2ForPreTraining with ``config``, from its shapes (no weights built; biases and norms,
    a fraction of a percent, left out): the feature encoder, projection, positional convolution, transformer,
    quantizer and its projections."""
    c = {k: getattr(config, k) for k in ("hidden_size", "num_hidden_layers", "intermediate_size", "codevector_dim",
                                          "proj_codevector_dim", "num_codevector_groups", "num_codevectors_per_group",
                                          "num_conv_pos_embeddings", "num_conv_pos_embedding_groups")}  # fmt: skip
    h, layers, inner = (int(float(c[k])) for k in ("hidden_size", "num_hidden_layers", "intermediate_size"))
    conv_dim = [int(float(d)) for d in config.conv_dim]
    kernels = [int(float(k)) for k in config.conv_kernel]
    encoder = sum(c_in * c_out * k for c_in, c_out, k in zip([1, *conv_dim[:-1]], conv_dim, kernels))
    positional = (
        h * h // max(int(float(c["num_conv_pos_embedding_groups"])), 1) * int(float(c["num_conv_pos_embeddings"]))
    )
    transformer = layers * (4 * h * h + 2 * h * inner)
    codes = int(float(c["num_codevector_groups"])) * int(float(c["num_codevectors_per_group"]))
    quantizer = conv_dim[-1] * codes + codes * int(float(c["codevector_dim"])) // max(
        int(float(c["num_codevector_groups"])), 1
    )
    projections = (int(float(c["codevector_dim"])) + h) * int(float(c["proj_codevector_dim"]))
    return encoder + conv_dim[-1] * h + positional + transformer + quantizer + projections


def check_memory(settings: Settings, config: Any, memory_bytes: int, where: str) -> None:
    """The model, one micro-batch's activations and a step's held micro-batches must fit ``memory_bytes``.

    A lower bound, so it refuses only what cannot run: the model at 16 bytes per parameter; per crop in the forward
    pass its samples, the first convolution's output and one hidden state per layer; per held micro-batch (the loop
    holds a step's micro-batches, masks and negatives at once) the crops, masks and negative indices.
    """
    t = settings.training
    try:
        params = parameter_count(config)
        samples = audio.seconds_to_frames(settings.crops.crop_sec, settings.data.sample_rate)
        frames = crop_frames(config, samples)
        first = int(float(config.conv_dim[0])) * (samples // max(int(float(config.conv_stride[0])), 1))
        hidden = frames * int(float(config.hidden_size)) * int(float(config.num_hidden_layers))
    except (TypeError, ValueError, AttributeError):  # overrides that are not numbers: load_model says so
        return
    model_bytes = params * _TRAIN_BYTES_PER_PARAM
    forward_bytes = t.per_gpu_batch * _FLOAT_BYTES * (samples + first + hidden)
    held_bytes = (
        t.grad_accum_steps * t.per_gpu_batch * (_FLOAT_BYTES * samples + frames * (1 + t.num_negatives * _INDEX_BYTES))
    )
    need = model_bytes + forward_bytes + held_bytes
    if need <= memory_bytes:
        return
    raise ConfigError(
        f"training.per_gpu_batch {t.per_gpu_batch} x grad_accum_steps {t.grad_accum_steps} crops of "
        f"{settings.crops.crop_sec:g} s (crops.crop_sec) with a model of {params / 1e6:,.1f} M parameters need at "
        f"least {_gib(need)} (model {_gib(model_bytes)}, one micro-batch {_gib(forward_bytes)}, a step's held "
        f"micro-batches {_gib(held_bytes)}), more than the {_gib(memory_bytes)} of {where}: lower per_gpu_batch, "
        "grad_accum_steps, crop_sec or the model size (training.model_overrides)."
    )


def _gib(size: float) -> str:
    return f"{size / 2**30:,.1f} GiB"


def _model_config(t: TrainingSettings, checkpoint: Path | None) -> Any:
    """The Wav2Vec2Config the run will use (config.json only, no weights), or None when it cannot be read yet.

    A Hub id is probed first (homecat.hub_loading: one short request): an unreachable Hub with the model not in
    the cache is its one sentence now, not after from_pretrained's retries of config.json.
    """
    from transformers import Wav2Vec2Config

    from homecat.hub_loading import hub_load_kwargs

    if checkpoint is None and t.base_model is not None:
        load_kwargs = hub_load_kwargs(t.base_model, "training.base_model")  # raises when it cannot be loaded
    try:
        if checkpoint is not None:
            return Wav2Vec2Config.from_pretrained(checkpoint)
        if t.base_model is None:
            return Wav2Vec2Config(**t.model_overrides)
        return Wav2Vec2Config.from_pretrained(t.base_model, **load_kwargs, **t.model_overrides)
    except Exception:  # a bad override, a folder without config.json, ...: load_model says so in its own sentence
        return None
