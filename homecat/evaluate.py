"""`homecat evaluate`: the trainer's dev metrics for several models on the same fixed dev crops, masks and negatives.

This is glue around the trainer's own evaluation (``homecat.train.evaluate.evaluate``): the dev crops are
``crops.dev_crops`` of the catalog's current dev split (``crops.dev_crop_count`` crops of ``crops.crop_sec``,
seed 0, as the trainer draws them), masks and negatives are drawn from (``training.train_seed``, the crop's
position) with the ``training`` mask settings, so every model with the same conv stack sees exactly the same
input, masks and negatives. In eval mode the quantizer takes the argmax code (no Gumbel noise) and dropout is
off: the same model gives the same numbers every time. The loss is the trainer's dev loss per masked frame
(contrastive + ``training.diversity_loss_weight`` x diversity, as ``Wav2Vec2ForPreTraining`` sums it).

Masks and negatives depend on the dev crop alone (its position in the list), never on the batch or the
number of processes, and the perplexity comes from code counts over all dev crops: one process here
reproduces a run's dev row, logged on any number of processes, for the same weights (to float tolerance).
With ``--model`` the crops come from the current catalog (numbers match a run's rows while the dev split is
unchanged); with ``--run`` they come from the run's own snapshot and config.yaml, for each of its models.

The forward pass runs in the mixed precision the trainer would use with these settings (``--run``: the run's
own): ``training.mixed_precision`` on a CUDA GPU, fp32 without one (``dev_precision``). So a GPU run's dev row
and ``evaluate`` on a GPU agree to float tolerance; each row says which precision it used, and names its
weights (sha256 of the weight files, homecat.weights) and their training step where the model is a run's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from homecat.catalog import Catalog
from homecat.errors import HomecatError
from homecat.settings import Settings
from homecat.weights import weights_of

COLUMNS = [
    "model",
    "loss_per_masked_frame",
    "contrastive_accuracy",
    "contrastive_accuracy_informative",
    "identical_negative_share",
    "codevector_perplexity",
    "dev_crops",
    "mixed_precision",
    "step",
    "weights_sha256",
]
RUN_COLUMNS = ["step", *(c for c in COLUMNS if c != "step")]
_HEADS = ("quantizer.", "project_q.", "project_hid.")


def evaluate_models(settings: Settings, models: Sequence[str]) -> list[dict[str, Any]]:
    """One row per model: the dev metrics on the fixed dev crops (see the module docstring)."""
    from homecat.crop_snapshot import build_crop_index

    if not models:
        raise HomecatError("Pass at least one --model PATH_OR_HUB_ID, or --run RUN_FOLDER.")
    crops = settings.crops
    with Catalog.open(settings.paths) as catalog:
        # the speech rows as the trainer's dev index holds them (the dev crops themselves are fixed positions)
        index = build_crop_index(catalog, ["dev"], crops.crop_sec, crops.speech_source, crops.speech_labels)
    return _evaluate_on(settings, index, models)


def evaluate_run(settings: Settings, run_dir: str | Path) -> list[dict[str, Any]]:
    """One row per model of a run (its start, every checkpoint, final/), by step, on the run's own dev snapshot
    with its own crop and mask settings (config.yaml): the rows reproduce the run's logged dev rows."""
    import yaml

    from homecat.crops import CropIndex
    from homecat.settings import CropSettings, TrainingSettings
    from homecat.train.checkpoints import run_models

    run = Path(run_dir)
    models = run_models(run)
    if not models:
        raise HomecatError(f"{run} has no checkpoints, final/ or starting model to evaluate.")
    config = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8")) or {}
    settings = settings.model_copy(
        update={
            "training": TrainingSettings(**config.get("training", {})),
            "crops": CropSettings(**config.get("crops", {})),
        }
    )
    index = CropIndex.load(run / "index" / "dev.parquet")
    rows = _evaluate_on(settings, index, [path for _, _, path in models])
    return [{**row, "step": step, "model": label} for (step, label, _), row in zip(models, rows, strict=True)]


def dev_precision(t: Any, cuda: bool) -> str:
    """The mixed precision of dev evaluation: the trainer's rule (homecat.train.loop), the setting on a CUDA GPU
    and fp32 without one, so ``evaluate`` computes a run's dev rows as the trainer did."""
    return t.mixed_precision if cuda else "no"


def _evaluate_on(settings: Settings, index: Any, models: Sequence[str]) -> list[dict[str, Any]]:
    import torch
    from accelerate import Accelerator

    from homecat.crops import CropDataset, dev_crops
    from homecat.train.evaluate import evaluate

    crops = settings.crops
    specs = dev_crops(index, crops.dev_crop_count, crops.crop_sec)
    if not specs:
        raise HomecatError(
            "The dev split gives no crops: run 'homecat split' with split.dev_fraction above 0 "
            "(and keep crops.dev_crop_count above 0)."
        )
    dataset = CropDataset(index, crops, settings.data)
    cuda = torch.cuda.is_available()
    precision = dev_precision(settings.training, cuda)
    accelerator = Accelerator(cpu=not cuda, mixed_precision=precision)
    rows = []
    for name in models:
        model, do_normalize = _load(name, settings)
        weights = weights_of(name)  # after loading: a Hub id's files are in the cache
        model.to(accelerator.device)
        row = evaluate(accelerator, model, settings.training, dataset, specs, do_normalize, step=0)
        rows.append(
            {
                "model": name,
                "loss_per_masked_frame": row["dev_loss"],
                "contrastive_accuracy": row["dev_contrastive_accuracy"],
                "contrastive_accuracy_informative": row["dev_contrastive_accuracy_informative"],
                "identical_negative_share": row["dev_identical_negative_share"],
                "codevector_perplexity": row["dev_codevector_perplexity"],
                "dev_crops": row["dev_crops"],
                "mixed_precision": precision,
                "step": weights.step,
                "weights_sha256": weights.sha256,
            }
        )
        del model
    return rows


def _load(name: str, settings: Settings) -> tuple[Any, bool]:
    """Wav2Vec2ForPreTraining with its pretraining heads, and whether to normalise crops."""
    from transformers import Wav2Vec2ForPreTraining

    from homecat.wav2vec2 import load_quietly

    loaded = load_quietly(Wav2Vec2ForPreTraining, name)  # missing heads are reported below in one sentence
    model = loaded.model
    heads = sorted({h.rstrip(".") for k in loaded.missing_keys for h in _HEADS if k.startswith(h)})
    if heads:
        raise HomecatError(
            f"The model {name!r} has no pretraining heads ({', '.join(heads)} missing): its contrastive loss cannot "
            "be computed; evaluate a checkpoint saved by 'homecat train' or facebook/wav2vec2-base."
        )
    extractor = loaded.extractor()
    if extractor is None:  # no preprocessor_config.json: wav2vec2's convention
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
