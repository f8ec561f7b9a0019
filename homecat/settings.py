"""Every knob in one pydantic model tree, and where each resolved value came from.

Sources, lowest to highest priority:
  1. packaged defaults   homecat/config/{defaults,data,training}.yaml
  2. a user YAML file    --config FILE or HOMECAT_CONFIG
  3. the environment     HOMECAT_<FIELD> (or HOMECAT_<SECTION>__<FIELD>), HOMECAT_CATALOG,
                         HF_TOKEN / HF_REPO_ID / HF_PRIVATE; a ``.env`` file in the working
                         directory fills in variables the real environment does not set
  4. command-line flags
Field names are unique across sections, so ``HOMECAT_SAMPLE_RATE`` needs no section.
"""

from __future__ import annotations

import os
import re
import typing
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from homecat.errors import ConfigError

ENV_PREFIX = "HOMECAT_"
# Variables with a meaning of their own, not settings.
RESERVED_ENV = {"HOMECAT_CONFIG", "HOMECAT_DEBUG", "HOMECAT_STOPPED_FILE", "HOMECAT_SCRIPTS"}
# Conventional names that map onto settings.
ALIAS_ENV = {
    "HOMECAT_CATALOG": "paths.catalog",
    "HF_TOKEN": "hub.token",
    "HF_REPO_ID": "hub.repo_id",
    "HF_PRIVATE": "hub.private",
}
SECRET_FIELDS = {"hub.token"}
SEED_MAX = 2**32 - 1  # numpy's and scikit-learn's seed range
DEV_CROPS_MAX = 100_000  # ~220 h of 8 s crops evaluated at every eval_steps: beyond any useful dev set
WORKERS_PER_CORE = 4
# Fields whose rejected value is not repeated in the error (hub.repo_id: it may hold a pasted token).
HIDDEN_INPUT_FIELDS = SECRET_FIELDS | {"hub.repo_id"}
# User access tokens are hf_ + 34 letters and digits, organisation tokens api_org_ + 34.
_TOKEN_IN_REPO_ID = re.compile(r"(?i)(?:hf_|api_org_)[a-z0-9]{20,}")
PACKAGED_FILES = ("defaults.yaml", "data.yaml", "training.yaml", "analysis.yaml", "vad.yaml")


class _Section(BaseModel):
    # every float finite: .inf or .nan in a setting (a crop length, a learning rate) is refused by name
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class PathSettings(_Section):
    catalog: Path = Field(Path("catalog/homecat.duckdb"), description="The DuckDB catalog file.")
    artifacts_dir: Path = Field(Path("artifacts"), description="Where training runs, exports and plots are written.")
    catalog_read_wait_sec: float = Field(
        5.0,
        ge=0,
        description="How long a reading command (report, sql, export) waits for a catalog another process is "
        "writing before giving up with one sentence; a long stage frees the file between its commits.",
    )
    catalog_write_wait_sec: float = Field(
        60.0,
        ge=0,
        description="How long a writing command waits for its turn at a catalog another process holds (two "
        "writers take turns; a long stage waits this long for each batch commit).",
    )
    catalog_commit_every_sec: float = Field(
        5.0,
        ge=0,
        description="scan, validate and vad collect results this long, then take the catalog to commit them (each "
        "visit costs an open and a close, ~0.1-0.2 s); between visits other commands get in. A kill loses at most "
        "this much work.",
    )


def _regex_with_group(value: str, group: str) -> str:
    """``value`` when it compiles and has the named group ``group``; else the sentence saying which is wrong."""
    try:
        compiled = re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression ({exc})") from exc
    if group not in compiled.groupindex:
        raise ValueError(f"needs a named group (?P<{group}>...)")
    return value


class DataSettings(_Section):
    raw_audio_root: Path | None = Field(
        None, description="Folder holding the raw recordings (read-only; never modified)."
    )
    allowed_ext: list[str] = Field(
        [".wav", ".flac", ".mp3"],
        description="File extensions to catalog, matched case-insensitively (any libsndfile reads; scan counts the rest).",
    )
    sample_rate: int = Field(16000, gt=0, description="Rate the model sees; other rates are resampled.")
    min_duration_sec: float = Field(2.0, ge=0, description="Shorter recordings are excluded.")
    max_duration_sec: float | None = Field(None, gt=0, description="Longer recordings are flagged (null: no limit).")
    channel_policy: str | int = Field(
        "mean", description="Multi-channel down-mix: 'mean' of channels, 'first' channel, or a channel index."
    )
    participant_regex: str = Field(
        r"^(?P<participant>[^/]+)/",
        description="Regex with a named group 'participant', applied to the POSIX path relative to the root; an "
        "optional group 'family' names the family above the child (siblings share a split), e.g. "
        "'^(?P<participant>(?P<family>[^/]+)/[^/]+)/' for FAMILY/CHILD/file.wav.",
    )
    recording_date_regex: str | None = Field(
        r"(?<!\d)(?P<date>\d{4}-\d{2}-\d{2}|\d{8})(?!\d)(?:[T_ -](?P<time>\d{2}[:-]?\d{2}(?:[:-]?\d{2})?)(?!\d))?[^/]*$",
        description="Regex with a named group 'date' (2024-01-10, 20240110, 2024_01_10, ...) and optional 'time' "
        "(13:05, 130520, ...), applied to the relative POSIX path at scan: recording dates for ages without "
        "ChildProject (default: a date in the file name). null: none.",
    )
    scan_workers: int = Field(8, ge=1, description="Threads reading headers during scan.")
    hash_audio: bool = Field(False, description="Compute the SHA-1 of every new or changed file during scan.")
    childproject_root: Path | None = Field(
        None,
        description="A ChildProject dataset (metadata/, recordings/) to scan instead of raw_audio_root; "
        "participants are its children.",
    )
    childproject_profile: str | None = Field(
        None, description="Scan recordings/converted/<profile>/ of the ChildProject dataset (null: recordings/raw/)."
    )

    @field_validator("allowed_ext")
    @classmethod
    def _normalise_ext(cls, value: list[str]) -> list[str]:
        return sorted({(e if e.startswith(".") else "." + e).lower() for e in value})

    @field_validator("channel_policy", mode="before")
    @classmethod
    def _channel_policy(cls, value: Any) -> str | int:
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if value in ("mean", "first") or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            return value
        raise ValueError("must be 'mean', 'first' or a channel index (0, 1, …)")

    @field_validator("participant_regex")
    @classmethod
    def _regex_has_group(cls, value: str) -> str:
        return _regex_with_group(value, "participant")

    @field_validator("recording_date_regex")
    @classmethod
    def _date_regex_has_group(cls, value: str | None) -> str | None:
        return None if value is None else _regex_with_group(value, "date")


class ValidateSettings(_Section):
    window_sec: float = Field(1.0, gt=0, description="Length of one window in `levels` (activity profile), seconds.")
    silence_floor_dbfs: float = Field(
        -60.0,
        le=0,
        description="Absolute floor: windows quieter than this are silent whatever the noise floor; "
        "a recording with every window below it is 'silent' (an error).",
    )
    activity_margin_db: float = Field(
        10.0, ge=0, description="A window is active when it is this many dB above the recording's noise floor."
    )
    noise_floor_percentile: float = Field(
        10.0, ge=0, le=100, description="Percentile of a recording's window RMS levels taken as its noise floor."
    )
    clip_warn_fraction: float = Field(
        0.001, ge=0, le=1, description="Warn 'clipping' when more than this share of samples sit at full scale."
    )
    mostly_silent_warn_share: float = Field(
        0.95, ge=0, le=1, description="Warn 'mostly_silent' when more than this share of windows are below threshold."
    )
    read_block_sec: float = Field(
        10.0, gt=0, description="Seconds of audio read per block while streaming (memory per worker)."
    )
    validate_workers: int | None = Field(
        None, ge=1, description="Processes validating files in parallel (null: all CPU cores)."
    )
    duplicate_rule: Literal["first-by-path", "keep-all"] = Field(
        "first-by-path",
        description="Exact copies (same SHA-1, `scan --hash`): 'first-by-path' trains the first copy by path and "
        "excludes the others (an 'exact_duplicate' error naming the kept copy); 'keep-all' trains every copy "
        "(a 'duplicate' warning).",
    )


class HubSettings(_Section):
    repo_id: str | None = Field(None, description="Hub repository, e.g. my-lab/wav2vec2-base-homes (HF_REPO_ID).")
    private: bool = Field(True, description="Create the Hub repository as private (HF_PRIVATE).")
    license: str = Field(
        "unknown", description="License written into the model card (a Hub license id); set it before pushing."
    )
    language: list[str] = Field([], description="Language codes of the recordings for the model card; set them.")
    card_tags: list[str] = Field([], description="Tags added to the model card (besides wav2vec2, audio, ...).")
    card_base_model: str = Field(
        "facebook/wav2vec2-base",
        description="Base model named in the model card when the run recorded a local path, not a Hub id.",
    )
    request_timeout_sec: float = Field(
        60.0,
        gt=0,
        description="Deadline in seconds for each Hub call of a push (connect, wait, receive, retries; the time "
        "spent sending files does not count), and for any one socket operation.",
    )
    token: SecretStr | None = Field(
        None, description="Hub token; only from HF_TOKEN or .env, never from a config file.", exclude=True
    )

    @field_validator("repo_id")
    @classmethod
    def _not_a_token(cls, value: str | None) -> str | None:
        # a token pasted into HF_REPO_ID would be written into the model card and sent as a name
        if value is not None and _TOKEN_IN_REPO_ID.search(value):
            raise ValueError(
                "looks like a Hub token (hf_…), not a repository id: put the token in HF_TOKEN and namespace/name here"
            )
        return value


class SplitSettings(_Section):
    dev_fraction: float = Field(0.1, ge=0, lt=1, description="Target share of audio hours in the dev split.")
    test_fraction: float = Field(
        0.0, ge=0, lt=1, description="Target share of audio hours in the test split (0: none)."
    )
    split_seed: int = Field(0, description="Seed that orders new participants when they are placed into splits.")
    stratify_by: Literal["age-band", "sex", "site"] | None = Field(
        None,
        description="Place new participants within groups of this (age band at recording, from ChildProject "
        "metadata or `participants import`; sex; site), so each split holds its share of every group.",
    )

    @model_validator(mode="after")
    def _train_keeps_a_share(self) -> SplitSettings:
        if self.dev_fraction + self.test_fraction >= 1:
            raise ValueError("dev_fraction + test_fraction must be below 1 (train needs a share)")
        return self


class CropSettings(_Section):
    crop_sec: float = Field(8.0, gt=0, description="Length of one training crop in seconds (at data.sample_rate).")
    crop_policy: Literal["uniform", "energy", "speech", "mixture"] = Field(
        "energy",
        description="Where crop starts are drawn: uniform; energy (windows at or above the activity threshold); "
        "speech (crops holding min_speech_share of speech); mixture (each crop's part drawn by policy_weights).",
    )
    policy_weights: dict[str, float] = Field(
        {"speech": 0.6, "energy": 0.3, "uniform": 0.1},
        description="With crop_policy mixture: share of crops drawn by each part (speech, energy, uniform); "
        "energy and uniform keep the infant sounds a VAD misses.",
    )
    speech_source: str = Field(
        "silero", description="Rows of `speech` that count as speech: this source ('silero', or an RTTM import's)."
    )
    speech_labels: list[str] = Field(
        [],
        description="Labels of speech_source that count as speech, e.g. [KCHI, FEM, MAL] from voice type "
        "classifier RTTM, [CHI, FEM, MAL] from a ChildProject vtc set (empty: all).",
    )
    min_speech_share: float = Field(
        0.5, ge=0, le=1, description="Speech policy: share of a crop that must be speech (less where none can be)."
    )
    max_silence_retries: int = Field(10, ge=0, description="Redraws of a crop whose RMS is under the threshold.")
    on_silent: Literal["accept", "mark", "skip"] = Field(
        "accept",
        description="After the retries: accept the silent crop, mark it (silent=True), or skip to other recordings.",
    )
    crops_per_epoch: int = Field(10000, gt=0, description="Crops one rank draws per epoch.")
    dev_crop_count: int = Field(
        256, ge=0, le=DEV_CROPS_MAX, description="Fixed crops in the dev set (evaluated at every eval_steps)."
    )
    crop_seed: int = Field(
        0, ge=0, le=SEED_MAX, description="Seed of the crop streams; crop k of epoch e on rank r depends only on it."
    )

    @model_validator(mode="before")
    @classmethod
    def _activity_aware(cls, data: Any) -> Any:
        # Before crop_policy, `activity_aware: false` turned energy starts off (uniform); old configs keep
        # working: it makes the (default) energy policy uniform and leaves any other policy as it is.
        if isinstance(data, dict) and "activity_aware" in data:
            data = dict(data)
            aware = str(data.pop("activity_aware")).strip().lower() not in ("false", "0", "no", "off")
            if not aware and data.get("crop_policy", "energy") == "energy":
                data["crop_policy"] = "uniform"
        return data

    @field_validator("policy_weights")
    @classmethod
    def _weights(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - {"speech", "energy", "uniform"})
        if unknown:
            raise ValueError(f"parts must be speech, energy or uniform (not {', '.join(unknown)})")
        if any(w < 0 for w in value.values()) or sum(value.values()) <= 0:
            raise ValueError("weights must be non-negative with a positive sum")
        return value


class TrainingSettings(_Section):
    """Continued self-supervised pretraining of wav2vec2 (homecat/train/); see TRAINING-NOTES."""

    base_model: str | None = Field(
        "facebook/wav2vec2-base",
        description="Hub id or local folder of the model to continue from; null: random init from model_overrides.",
    )
    model_overrides: dict[str, Any] = Field(
        {}, description="Wav2Vec2Config fields set on the model's config (with base_model null: the whole config)."
    )
    run_name: str = Field(
        "wav2vec2-ssl", description="Name of the run; the default output_dir is artifacts/training/<run_name>."
    )
    output_dir: Path | None = Field(None, description="Run folder (null: <paths.artifacts_dir>/training/<run_name>).")
    train_seed: int = Field(
        0, ge=0, le=SEED_MAX, description="Seed of weights init, dropout, Gumbel noise, masks and negatives."
    )
    per_gpu_batch: int = Field(
        2, ge=1, description="Crops per process per micro-batch (checked against the device's memory at the start)."
    )
    grad_accum_steps: int = Field(
        8,
        ge=1,
        le=10_000,
        description="Micro-batches accumulated into one optimizer step (a step's micro-batches are held at once: "
        "checked against the device's memory at the start).",
    )
    max_steps: int | None = Field(
        None,
        ge=1,
        description="Optimizer steps to run (null: the plan, target_steps within max_passes; see homecat/train/plan.py).",
    )
    target_steps: int = Field(
        20_000,
        ge=1,
        description="With max_steps null: the updates the plan aims at (continued-pretraining runs use 20-50k).",
    )
    max_passes: float = Field(
        50.0,
        gt=0,
        description="With max_steps null: at most this many passes over the usable (active) train audio, "
        "which shortens the plan on a small corpus (a plan under 10,000 updates is warned about).",
    )
    learning_rate: float = Field(
        5e-5, gt=0, description="Peak AdamW learning rate (continued pretraining: 5e-5 to 1e-4)."
    )
    warmup_steps: int | None = Field(
        None,
        ge=0,
        description="Linear warmup steps, then linear decay to 0 at the last step (null: 6% of the run's steps; "
        "recipes use 5-8%).",
    )
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay (not applied to biases and norms).")
    max_grad_norm: float = Field(
        10.0, ge=0, description="Clip the gradient norm to this (0: no clipping; norm still logged)."
    )
    mixed_precision: Literal["fp16", "bf16", "no"] = Field(
        "fp16", description="fp16 (RTX 2080 Ti), bf16 (Ampere+), or no; always fp32 where there is no CUDA."
    )
    gradient_checkpointing: bool = Field(
        True, description="Recompute activations in backward (saves memory, ~30% slower)."
    )
    freeze_feature_encoder: bool = Field(
        True, description="Keep the CNN feature encoder fixed (transformers has no feature_grad_mult; saves memory)."
    )
    layerdrop_multi_process: Literal["zero", "find_unused_parameters"] = Field(
        "zero",
        description="With several processes: set layerdrop to 0, or keep it and let DDP find unused parameters.",
    )
    mask_time_prob: float = Field(
        0.65, gt=0, lt=1, description="Share of frames starting a masked span (NOT the config's 0.05)."
    )
    mask_time_length: int = Field(10, ge=1, description="Length of one masked span in frames.")
    mask_time_min_masks: int = Field(2, ge=0, description="Fewest masked spans per crop.")
    num_negatives: int = Field(
        100, ge=1, description="Distractors per masked frame, from masked frames of the same crop."
    )
    diversity_loss_weight: float = Field(0.1, ge=0, description="Weight of the codebook diversity loss.")
    diversity_over: Literal["step", "process", "micro_batch"] = Field(
        "step",
        description="Frames the diversity term's code distribution covers: the whole optimizer step (every "
        "micro-batch, all-reduced over processes), this process's micro-batches of the step (fairseq: one GPU's "
        "batch), or each micro-batch alone (transformers' own term; an ablation). See homecat/train/diversity.py.",
    )
    gumbel_max: float = Field(2.0, gt=0, description="Gumbel softmax temperature at update 0 of the schedule.")
    gumbel_min: float = Field(0.5, gt=0, description="Floor of the Gumbel temperature.")
    gumbel_decay: float = Field(0.999995, gt=0, le=1, description="Temperature factor per optimizer update.")
    gumbel_schedule: Literal["auto", "restart", "continue"] = Field(
        "auto",
        description="restart: decay from gumbel_max; continue: stay at gumbel_min, where the base model ended; "
        "auto: continue from a pretrained base_model, restart from random init.",
    )
    save_steps: int = Field(1000, ge=1, description="Checkpoint every this many optimizer steps (and at the end).")
    save_total_limit: int | None = Field(3, ge=1, description="Keep only the newest this many checkpoints (null: all).")
    logging_steps: int = Field(10, ge=1, description="Log metrics every this many optimizer steps.")
    eval_steps: int = Field(500, ge=1, description="Evaluate on the fixed dev crops every this many optimizer steps.")
    num_workers: int = Field(
        4, ge=0, description="DataLoader worker processes per training process (at most 4 per CPU core)."
    )
    max_nonfinite_steps: int = Field(
        50, ge=1, description="Stop when this many optimizer steps in a row had a non-finite loss or gradient."
    )
    report_to: Literal["none", "tensorboard", "wandb"] = Field(
        "tensorboard",
        description="Experiment tracker fed through Accelerate besides logs/metrics.jsonl: tensorboard (event files "
        "in the run folder's logs/, works offline), wandb (WANDB_MODE=offline on offline nodes), or none.",
    )
    collapse_min_perplexity_ratio: float = Field(
        0.2, gt=0, lt=1, description="Warn of collapse when codevector perplexity falls below this fraction of step 0."
    )
    collapse_max_identical_share: float = Field(
        0.5, gt=0, le=1, description="Warn of collapse when more than this share of negatives equal their positive."
    )

    @model_validator(mode="before")
    @classmethod
    def _num_train_epochs(cls, data: Any) -> Any:
        # Before the plan had a target, num_train_epochs passes were the run; as a cap on passes it plans the
        # same run when that is shorter than target_steps (old configs keep working).
        if isinstance(data, dict) and "num_train_epochs" in data:
            data = dict(data)
            data.setdefault("max_passes", data.pop("num_train_epochs"))
            data.pop("num_train_epochs", None)
        return data

    @field_validator("num_workers")
    @classmethod
    def _workers_for_the_cores(cls, value: int) -> int:
        most = WORKERS_PER_CORE * usable_cores()
        if value > most:
            raise ValueError(f"at most {most} ({WORKERS_PER_CORE} per CPU core this process may use)")
        return value


class SegmentsSettings(_Section):
    """`homecat segments import`: annotated intervals from several files."""

    duplicate_tolerance_sec: float = Field(
        0.01,
        ge=0,
        description="Segments of two source files with the same recording and label whose starts and ends both "
        "differ by at most this many seconds are one event: the later source's is flagged as a duplicate.",
    )


class EmbedSettings(_Section):
    """`homecat embed`: one vector per annotated segment and layer."""

    max_segment_sec: float = Field(
        20.0,
        gt=0,
        description="Longer segments go through the model in nearly equal windows of at most this many seconds, "
        "averaged by frame count (attention cost grows with the square of a window's length).",
    )
    embed_batch_size: int = Field(
        8,
        ge=1,
        description="Windows per forward pass; group-norm models (wav2vec2-base) batch only windows of equal length.",
    )
    embed_device: str = Field("auto", description="auto (CUDA when present, else CPU), cpu, cuda or cuda:N.")
    embed_rows_per_group: int = Field(
        256,
        ge=1,
        description="Segments held before they are written as one Parquet row group "
        "(memory: this x layers x hidden size x 4 bytes, ~10 MB for wav2vec2-base).",
    )


class ProbeSettings(_Section):
    """`homecat probe`: participant-grouped layer-wise probes."""

    probe_folds: int = Field(
        8,
        ge=2,
        description="Family-grouped stratified cross-validation folds (one per family when there are fewer); a paired "
        "test over folds needs 6 or more to call a difference at p < 0.05.",
    )
    probe_seed: int = Field(0, description="Seed of the fold assignment (the same for every set and layer of a probe).")
    probe_c: float = Field(1.0, gt=0, description="Inverse L2 regularisation strength C of the logistic regression.")
    probe_max_iter: int = Field(1000, ge=1, description="Most lbfgs iterations per fit.")
    probe_jobs: int | None = Field(
        None, ge=1, description="Folds fitted side by side, one BLAS thread each (null: one per CPU core)."
    )
    probe_tol: float = Field(
        1e-4,
        gt=0,
        description="lbfgs stopping tolerance (scikit-learn's default; 1e-3 halves the time, UAR moves ~0.01).",
    )


class VadSettings(_Section):
    """`homecat vad`: voice activity with Silero VAD (semantics of silero's get_speech_timestamps, streamed)."""

    vad_threshold: float = Field(
        0.5, gt=0, lt=1, description="A 32 ms chunk with speech probability at or above this starts speech."
    )
    vad_neg_threshold: float | None = Field(
        None, gt=0, lt=1, description="Speech ends below this probability (null: vad_threshold - 0.15, at least 0.01)."
    )
    min_speech_sec: float = Field(0.25, ge=0, description="Speech stretches this short or shorter are dropped.")
    min_silence_sec: float = Field(
        0.1, ge=0, description="Silence inside speech must last this long to end the segment."
    )
    speech_pad_sec: float = Field(
        0.03, ge=0, description="Seconds added to each side of a segment (halved between close ones)."
    )
    vad_block_sec: float = Field(
        32.768,
        gt=0,
        description="Seconds of audio read, resampled and passed to the model per call (memory per worker).",
    )
    vad_workers: int | None = Field(
        None, ge=1, description="Processes running the model in parallel (null: all CPU cores)."
    )


# `validate` (the section) shadows pydantic's deprecated BaseModel.validate classmethod; the field is
# what users write in YAML, and pydantic v2 itself only calls model_validate, so hide its warning.
warnings.filterwarnings("ignore", message='Field name "validate" in "Settings" shadows', category=UserWarning)


class LogSettings(_Section):
    """What long commands print when stderr is not a terminal (batch jobs)."""

    progress_interval_sec: float = Field(
        30.0,
        ge=0,
        description="Seconds between plain progress lines of scan, validate, vad, embed and probe in a log "
        "file (0: every update); a terminal gets a progress bar instead.",
    )


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    paths: PathSettings = Field(default_factory=PathSettings, description="Where things live.")
    data: DataSettings = Field(default_factory=DataSettings, description="Which audio, and how to read it.")
    validate: ValidateSettings = Field(
        default_factory=ValidateSettings, description="Checks, statistics and levels of `homecat validate`."
    )
    hub: HubSettings = Field(default_factory=HubSettings, description="Publishing to the Hugging Face Hub.")
    split: SplitSettings = Field(default_factory=SplitSettings, description="Participant-grouped splits.")
    crops: CropSettings = Field(default_factory=CropSettings, description="Random training crops.")
    training: TrainingSettings = Field(
        default_factory=TrainingSettings, description="Continued self-supervised pretraining."
    )
    segments: SegmentsSettings = Field(
        default_factory=SegmentsSettings, description="Annotated segments (`homecat segments import`)."
    )
    embed: EmbedSettings = Field(default_factory=EmbedSettings, description="Segment embeddings (`homecat embed`).")
    probe: ProbeSettings = Field(default_factory=ProbeSettings, description="Layer-wise probes (`homecat probe`).")
    vad: VadSettings = Field(default_factory=VadSettings, description="Voice activity (`homecat vad`).")
    log: LogSettings = Field(default_factory=LogSettings, description="Progress output in batch logs.")

    def to_config_dict(self) -> dict[str, Any]:
        """The settings as a config file would hold them (secrets left out)."""
        return self.model_dump(mode="json", exclude={"hub": {"token"}})


@dataclass
class LoadedSettings:
    """Resolved settings plus, for every dotted field name, the source that set it."""

    settings: Settings
    sources: dict[str, str] = field(default_factory=dict)

    def rows(self) -> list[dict[str, Any]]:
        """One row per field: name, value (secrets masked), source, description."""
        out = []
        data = self.settings.model_dump(mode="json")
        for name in _field_names(Settings):
            value = _get_dotted(data, name)
            if name in SECRET_FIELDS:
                value = "(set, hidden)" if _get_dotted_attr(self.settings, name) is not None else "(not set)"
            source = self.sources.get(name, "default")
            out.append({"setting": name, "value": value, "source": source, "description": _description(name)})
        return out


def load_settings(
    config_file: str | os.PathLike | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: str | os.PathLike | None = None,
) -> LoadedSettings:
    """Resolve settings from all sources; raise ``ConfigError`` naming each bad field and its source."""
    env = _environment(environ, Path(cwd or os.getcwd()))
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}

    for name in PACKAGED_FILES:
        text = resources.files("homecat.config").joinpath(name).read_text(encoding="utf-8")
        _merge(merged, sources, _parse_yaml(text, f"packaged {name}"), "default")

    config_file = config_file or env.get("HOMECAT_CONFIG", ("",))[0]
    if config_file:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"The config file {path} does not exist.")
        user = _parse_yaml(path.read_text(encoding="utf-8"), str(path))
        if isinstance(user, dict) and "token" in (user.get("hub") or {}):
            raise ConfigError(f"{path}: hub.token: put the Hub token in HF_TOKEN or .env, not in a config file.")
        _merge(merged, sources, user, str(path))

    _merge_flat(merged, sources, _env_settings(env))
    if overrides:
        _merge_flat(merged, sources, {k: (v, "command line") for k, v in overrides.items() if v is not None})

    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(*_error_lines(exc, sources)) from None
    return LoadedSettings(settings, sources)


def missing_catalog_lines(path: Path, source: str, cwd: str | os.PathLike | None = None) -> list[str]:
    """Why there is no catalog at ``path`` (set by ``source``), in words that lead to the fix: a catalog from the
    default with a config file nearby that names one that exists means the command lacks that --config."""
    if source != "default":
        return [f"There is no catalog at {path} (from {source}): run 'homecat scan' first, or check that setting."]
    folder = Path(cwd or os.getcwd())
    named: list[str] = []
    for config in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])[:50]:  # a folder's own configs, few
        try:
            catalog = (_parse_yaml(config.read_text(encoding="utf-8"), config.name).get("paths") or {}).get("catalog")
        except (ConfigError, OSError, UnicodeDecodeError, AttributeError):
            continue
        if catalog and (folder / Path(str(catalog)).expanduser()).is_file():
            named.append(config.name)
    head = f"There is no catalog at {path}, the default: no --config, --catalog or HOMECAT_CATALOG was given"
    if named:
        return [f"{head}; {', '.join(named)} in this folder names an existing catalog: pass --config {named[0]}."]
    return [f"{head}; pass the --config your scan used, or run 'homecat scan' first."]


def usable_cores() -> int:
    """CPU cores this process may run on (a SLURM job's share, not the whole node)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def settings_field_names() -> list[str]:
    """Dotted names of every leaf setting, e.g. ``data.sample_rate``."""
    return _field_names(Settings)


# --------------------------------------------------------------------------- internals


def _environment(environ: Mapping[str, str] | None, cwd: Path) -> dict[str, tuple[str, str]]:
    """Variables with their origin: the real environment wins over ``.env``."""
    env = {k: (v, f"env {k}") for k, v in (os.environ if environ is None else environ).items()}
    dotenv = cwd / ".env"
    if dotenv.is_file():
        for key, value in dotenv_values(dotenv).items():
            if value is not None and key not in env:
                env[key] = (value, f".env {key}")
    return env


def _env_settings(env: dict[str, tuple[str, str]]) -> dict[str, tuple[Any, str]]:
    leaves = _field_names(Settings)
    by_leaf = {name.split(".")[-1]: name for name in leaves}
    out: dict[str, tuple[Any, str]] = {}
    for key, (value, origin) in sorted(env.items()):
        if key in ALIAS_ENV:
            dotted = ALIAS_ENV[key]
        elif key.startswith(ENV_PREFIX) and key not in RESERVED_ENV:
            rest = key[len(ENV_PREFIX) :].lower()
            dotted = rest.replace("__", ".") if "__" in rest else by_leaf.get(rest)
            if dotted not in leaves:
                raise ConfigError(f"{origin}: unknown setting (see 'homecat config show' for the names).")
        else:
            continue
        if dotted in SECRET_FIELDS and key not in ALIAS_ENV:
            # one name for the secret, the one the README, .env.example and huggingface_hub use
            raise ConfigError(f"{origin}: set the Hub token as HF_TOKEN (environment or .env), not {key}.")
        out[dotted] = (_parse_env_value(dotted, value), origin)
    return out


def _parse_env_value(dotted: str, value: str) -> Any:
    """Strings go to pydantic as they are (it converts numbers and booleans); lists are YAML."""
    annotation = _annotation(dotted)
    if typing.get_origin(annotation) is list or annotation is list:
        parsed = yaml.safe_load(value)
        return parsed if isinstance(parsed, list) else [p.strip() for p in value.split(",") if p.strip()]
    if typing.get_origin(annotation) is dict:  # e.g. HOMECAT_POLICY_WEIGHTS='{speech: 0.7, uniform: 0.3}'
        return yaml.safe_load(value)
    # a blank line in .env (HF_TOKEN=) means "not set", as does an explicit null
    if value.strip().lower() in ("null", "none", "") and _allows_none(annotation):
        return None
    return value


def _annotation(dotted: str) -> Any:
    section, name = dotted.split(".")
    section_model = Settings.model_fields[section].annotation
    return section_model.model_fields[name].annotation


def _description(dotted: str) -> str:
    section, name = dotted.split(".")
    return Settings.model_fields[section].annotation.model_fields[name].description or ""


def _allows_none(annotation: Any) -> bool:
    return type(None) in typing.get_args(annotation)


def _parse_yaml(text: str, origin: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{origin}: not valid YAML{where}.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: a config file must be a mapping of sections (paths:, data:, …).")
    return data


def _merge(merged: dict, sources: dict, data: dict, origin: str, prefix: str = "") -> None:
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and "." not in prefix and not prefix:
            merged.setdefault(key, {})
            if not isinstance(merged[key], dict):
                merged[key] = {}
            _merge(merged[key], sources, value, origin, prefix=f"{key}.")
        else:
            merged[key] = value
            sources[dotted] = origin


def _merge_flat(merged: dict, sources: dict, flat: Mapping[str, tuple[Any, str]]) -> None:
    for dotted, (value, origin) in flat.items():
        section, name = dotted.split(".")
        target = merged.setdefault(section, {})
        target[name] = value
        sources[dotted] = origin


def _error_lines(exc: ValidationError, sources: dict[str, str]) -> list[str]:
    lines: list[str] = []
    seen: set[str] = set()
    for err in exc.errors():
        loc = [str(p) for p in err["loc"] if not isinstance(p, int)]
        # union branches add the type tried ("int", "literal[...]"); keep the field path
        loc = [p for p in loc if not p.startswith(("literal[", "int", "str", "float", "bool", "list["))]
        dotted = ".".join(loc[:2]) if loc else "(settings)"
        origin = sources.get(dotted) or _section_origin(dotted, sources)
        msg = "unknown setting" if err["type"] == "extra_forbidden" else err["msg"]
        shown = "" if err["type"] == "extra_forbidden" else f" (got {err.get('input')!r})"
        if dotted in HIDDEN_INPUT_FIELDS:
            shown = ""
        if dotted not in seen:  # one line per field, the first reason pydantic gives
            seen.add(dotted)
            lines.append(f"{origin}: {dotted}: {msg}{shown}{_allowed(dotted, err['type'])}")
    return lines


_BOUND_WORDS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}


def _allowed(dotted: str, error_type: str) -> str:
    """'; allowed: > 0 and <= 1' from the field's bounds, for errors a bound does not already spell out."""
    if error_type.startswith(("greater", "less", "value_error")) or "." not in dotted:
        return ""  # pydantic's message, or the validator's, names the bound
    section, name = dotted.split(".", 1)
    model = Settings.model_fields.get(section)
    info = model.annotation.model_fields.get(name) if model is not None else None
    if info is None:
        return ""
    bounds = [f"{word} {getattr(m, key):g}" for m in info.metadata for key, word in _BOUND_WORDS.items()
              if getattr(m, key, None) is not None]  # fmt: skip
    return f"; allowed: {' and '.join(bounds)}" if bounds else ""


def _section_origin(dotted: str, sources: dict[str, str]) -> str:
    section = dotted.split(".")[0]
    for key, origin in sources.items():
        if key.startswith(section + ".") and origin != "default":
            return origin
    return "settings"


def _field_names(model: type[BaseModel], prefix: str = "") -> list[str]:
    names = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names.extend(_field_names(annotation, f"{prefix}{name}."))
        else:
            names.append(f"{prefix}{name}")
    return names


def _get_dotted(data: dict, dotted: str) -> Any:
    for part in dotted.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data


def _get_dotted_attr(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj
