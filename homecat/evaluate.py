"""`homecat evaluate`: the trainer's dev metrics for several models on the same fixed dev crops, masks and negatives.

This is glue around the trainer's own evaluation (``homecat.train.evaluate.evaluate``): the dev crops are
``crops.dev_crops`` of the catalog's current dev split (``crops.dev_crop_count`` crops of ``crops.crop_sec``,
seed 0, as the trainer draws them), masks and negatives are drawn from (``training.train_seed``, the crop's
position) with the ``training`` mask settings, so every model with the same conv stack sees exactly the same
input, masks and negatives. In eval mode the quantizer takes the argmax code (no Gumbel noise) and dropout is
off: the same model gives the same numbers every time. The loss is the trainer's dev loss per masked frame
(contrastive + ``training.diversity_loss_weight`` x diversity, as ``Wav2Vec2ForPreTraining`` sums it).

The crops come from the current catalog, not from a run's index snapshot: numbers compare models with each
other here, and match a run's logged dev rows only while the dev split is unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from homecat.catalog import Catalog
from homecat.errors import HomecatError, first_line
from homecat.hub_loading import hub_load_kwargs
from homecat.settings import Settings

COLUMNS = ["model", "loss_per_masked_frame", "contrastive_accuracy", "codevector_perplexity", "dev_crops"]
_HEADS = ("quantizer.", "project_q.", "project_hid.")


def evaluate_models(settings: Settings, models: Sequence[str]) -> list[dict[str, Any]]:
    """One row per model: the dev metrics on the fixed dev crops (see the module docstring)."""
    import torch
    from accelerate import Accelerator

    from homecat.crops import CropDataset, build_crop_index, dev_crops
    from homecat.train.evaluate import evaluate

    if not models:
        raise HomecatError("Pass at least one --model PATH_OR_HUB_ID.")
    crops = settings.crops
    with Catalog.open(settings.paths.catalog) as catalog:
        # the speech rows as the trainer's dev index holds them (the dev crops themselves are fixed positions)
        index = build_crop_index(catalog, ["dev"], crops.crop_sec, crops.speech_source, crops.speech_labels)
    specs = dev_crops(index, crops.dev_crop_count, crops.crop_sec)
    if not specs:
        raise HomecatError(
            "The dev split gives no crops: run 'homecat split' with split.dev_fraction above 0 "
            "(and keep crops.dev_crop_count above 0)."
        )
    dataset = CropDataset(index, crops, settings.data)
    accelerator = Accelerator(cpu=not torch.cuda.is_available(), mixed_precision="no")
    rows = []
    for name in models:
        model, do_normalize = _load(name, settings)
        model.to(accelerator.device)
        row = evaluate(accelerator, model, settings.training, dataset, specs, do_normalize, step=0)
        rows.append(
            {
                "model": name,
                "loss_per_masked_frame": row["dev_loss"],
                "contrastive_accuracy": row["dev_contrastive_accuracy"],
                "codevector_perplexity": row["dev_codevector_perplexity"],
                "dev_crops": row["dev_crops"],
            }
        )
        del model
    return rows


def _load(name: str, settings: Settings) -> tuple[Any, bool]:
    """Wav2Vec2ForPreTraining with its pretraining heads, and whether to normalise crops."""
    from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2ForPreTraining
    from transformers.utils import logging as hf_logging

    hub = hub_load_kwargs(name, "--model")  # fails in seconds on an offline node
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # missing heads are reported below in one sentence
    hf_logging.disable_progress_bar()
    try:
        model, info = Wav2Vec2ForPreTraining.from_pretrained(name, output_loading_info=True, **hub)
    except (OSError, ValueError) as exc:
        raise HomecatError(
            f"Cannot load the model {name!r} ({first_line(exc)}); offline, pass a local model folder."
        ) from None
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()
    heads = sorted({h.rstrip(".") for k in info.get("missing_keys", ()) for h in _HEADS if k.startswith(h)})
    if heads:
        raise HomecatError(
            f"The model {name!r} has no pretraining heads ({', '.join(heads)} missing): its contrastive loss cannot "
            "be computed; evaluate a checkpoint saved by 'homecat train' or facebook/wav2vec2-base."
        )
    try:
        extractor = Wav2Vec2FeatureExtractor.from_pretrained(name, **hub)
    except OSError:  # no preprocessor_config.json: wav2vec2's convention
        do_normalize = True
    else:
        if extractor.sampling_rate != settings.data.sample_rate:
            raise HomecatError(
                f"The model {name!r} expects {extractor.sampling_rate} Hz audio but data.sample_rate is "
                f"{settings.data.sample_rate}: its dev metrics would be measured on audio at the wrong rate."
            )
        do_normalize = bool(extractor.do_normalize)
    model.config.diversity_loss_weight = settings.training.diversity_loss_weight  # as the trainer sets it
    model.eval()
    return model, do_normalize
