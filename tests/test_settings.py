"""Settings: every knob documented, sources layered in the documented order, bad config is one line per field."""

from __future__ import annotations

from importlib import resources

import pytest
import yaml

from homecat.errors import ConfigError
from homecat.settings import PACKAGED_FILES, SECRET_FIELDS, PathSettings, Settings, load_settings, settings_field_names


def _sections():
    return {name: info.annotation for name, info in Settings.model_fields.items()}


def test_every_setting_has_a_description_and_a_default():
    for section, model in _sections().items():
        for name, info in model.model_fields.items():
            assert info.description, f"{section}.{name} has no description"
            assert not info.is_required(), f"{section}.{name} has no default"


def test_setting_names_are_unique_across_sections_so_env_names_need_no_section():
    leaves = [name.split(".")[1] for name in settings_field_names()]
    assert len(leaves) == len(set(leaves))


def test_packaged_yaml_defaults_match_the_model_defaults():
    packaged: dict = {}
    for name in PACKAGED_FILES:
        data = yaml.safe_load(resources.files("homecat.config").joinpath(name).read_text()) or {}
        for section, values in data.items():
            packaged.setdefault(section, {}).update(values)
    assert packaged == Settings().to_config_dict()


def test_sources_are_layered_defaults_file_env_dotenv_flags(tmp_path):
    config = tmp_path / "my.yaml"
    config.write_text("data:\n  sample_rate: 22050\n  min_duration_sec: 5\n  max_duration_sec: 100\n")
    (tmp_path / ".env").write_text("HOMECAT_MIN_DURATION_SEC=7\nHOMECAT_SCAN_WORKERS=3\nHF_REPO_ID=lab/from-dotenv\n")
    loaded = load_settings(
        config,
        overrides={"data.max_duration_sec": 50},
        environ={"HOMECAT_MIN_DURATION_SEC": "6", "HOMECAT_DATA__HASH_AUDIO": "true"},
        cwd=tmp_path,
    )
    data = loaded.settings.data
    assert data.sample_rate == 22050 and loaded.sources["data.sample_rate"] == str(config)
    # the real environment wins over .env for the same variable
    assert data.min_duration_sec == 6 and loaded.sources["data.min_duration_sec"] == "env HOMECAT_MIN_DURATION_SEC"
    assert data.scan_workers == 3 and loaded.sources["data.scan_workers"] == ".env HOMECAT_SCAN_WORKERS"
    assert data.hash_audio is True
    assert data.max_duration_sec == 50 and loaded.sources["data.max_duration_sec"] == "command line"
    assert loaded.settings.hub.repo_id == "lab/from-dotenv"
    assert loaded.sources["data.allowed_ext"] == "default"


def test_config_file_from_homecat_config_and_lists_from_env(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("data:\n  allowed_ext: [WAV]\n")
    loaded = load_settings(environ={"HOMECAT_CONFIG": str(config)}, cwd=tmp_path)
    assert loaded.settings.data.allowed_ext == [".wav"]
    loaded = load_settings(environ={"HOMECAT_ALLOWED_EXT": "[.flac, .WAV]"}, cwd=tmp_path)
    assert loaded.settings.data.allowed_ext == [".flac", ".wav"]


def test_each_bad_field_is_one_line_naming_the_file_and_the_field(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(
        "data:\n  sample_rate: fast\n  channel_policy: left\n  colour: blue\npaths:\n  catalog: ok.duckdb\n"
    )
    with pytest.raises(ConfigError) as info:
        load_settings(config, environ={}, cwd=tmp_path)
    lines = info.value.lines
    assert len(lines) == 3
    assert any(line.startswith(f"{config}: data.sample_rate:") and "'fast'" in line for line in lines)
    assert any(line.startswith(f"{config}: data.channel_policy:") for line in lines)
    assert any(line == f"{config}: data.colour: unknown setting" for line in lines)
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("data: [1, 2", "not valid YAML at line"),
        ("- just\n- a list\n", "must be a mapping"),
        ("hub:\n  token: hf_secret\n", "not in a config file"),
        ("data:\n  participant_regex: '(?P<kid>x)'\n", "named group"),
    ],
)
def test_config_file_mistakes_get_a_clear_message(tmp_path, text, expected):
    config = tmp_path / "c.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=expected) as info:
        load_settings(config, environ={}, cwd=tmp_path)
    assert "hf_secret" not in str(info.value)


def test_unknown_homecat_variable_and_missing_config_file_are_errors(tmp_path):
    with pytest.raises(ConfigError, match="env HOMECAT_SAMPEL_RATE: unknown setting"):
        load_settings(environ={"HOMECAT_SAMPEL_RATE": "1"}, cwd=tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml", environ={}, cwd=tmp_path)


def test_token_is_secret_everywhere_settings_are_shown(tmp_path):
    loaded = load_settings(environ={"HF_TOKEN": "hf_abcdefghijklmnop"}, cwd=tmp_path)
    assert loaded.settings.hub.token.get_secret_value() == "hf_abcdefghijklmnop"
    shown = repr(loaded.settings) + str(loaded.rows()) + str(loaded.settings.to_config_dict())
    assert "hf_abcdefghijklmnop" not in shown
    assert {r["setting"]: r["value"] for r in loaded.rows()}["hub.token"] == "(set, hidden)"
    assert SECRET_FIELDS == {"hub.token"}


def test_config_dict_is_a_valid_config_file(tmp_path):
    loaded = load_settings(overrides={"data.sample_rate": 8000}, environ={}, cwd=tmp_path)
    config = tmp_path / "resolved.yaml"
    config.write_text(yaml.safe_dump(loaded.settings.to_config_dict()))
    again = load_settings(config, environ={}, cwd=tmp_path)
    assert again.settings == loaded.settings
    assert PathSettings().catalog.as_posix() == "catalog/homecat.duckdb"


def test_the_bounds_check_probes_an_unreachable_hub_before_loading_the_base_models_config(tmp_path, monkeypatch):
    """An offline node (the endpoint a closed port, an empty cache): the probe's one sentence, not from_pretrained's
    retries of config.json first (which the bounds check used to swallow, leaving the sentence to a later load)."""
    import socket

    from huggingface_hub import constants

    from homecat.errors import HomecatError
    from homecat.settings import TrainingSettings
    from homecat.train.bounds import _model_config

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setattr(constants, "ENDPOINT", closed)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(HomecatError, match=r"Cannot reach the Hugging Face Hub .* training.base_model"):
        _model_config(TrainingSettings(base_model="facebook/wav2vec2-base"), None)


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("crops:\n  crop_sec: .inf\n", "crops.crop_sec: Input should be a finite number (got inf); allowed: > 0"),
        ("training:\n  learning_rate: .inf\n", "training.learning_rate: Input should be a finite number (got inf); "
         "allowed: > 0"),
        ("training:\n  mask_time_prob: .nan\n", "training.mask_time_prob: Input should be a finite number (got nan); "
         "allowed: > 0 and < 1"),
        ("training:\n  train_seed: -1\n", "training.train_seed: Input should be greater than or equal to 0 (got -1)"),
        ("crops:\n  crop_seed: 4294967296\n", "crops.crop_seed: Input should be less than or equal to 4294967295"),
        ("training:\n  grad_accum_steps: 1000000000\n", "training.grad_accum_steps: Input should be less than or "
         "equal to 10000"),
        ("crops:\n  dev_crop_count: 1000000000\n", "crops.dev_crop_count: Input should be less than or equal to "
         "100000"),
    ],
    ids=["crop_sec inf", "learning_rate inf", "mask_time_prob nan", "train_seed -1", "crop_seed 2**32",
         "grad_accum_steps 1e9", "dev_crop_count 1e9"],
)  # fmt: skip
def test_extreme_training_settings_are_one_line_naming_the_field_and_the_range(tmp_path, yaml_text, expected):
    config = tmp_path / "c.yaml"
    config.write_text(yaml_text)
    with pytest.raises(ConfigError) as info:
        load_settings(config, environ={}, cwd=tmp_path)
    (line,) = info.value.lines
    assert line.startswith(f"{config}: {expected}"), line


def test_data_workers_are_bounded_by_the_cores_this_process_may_use(tmp_path):
    from homecat.settings import WORKERS_PER_CORE, usable_cores

    most = WORKERS_PER_CORE * usable_cores()
    assert load_settings(environ={"HOMECAT_NUM_WORKERS": str(most)}, cwd=tmp_path).settings.training.num_workers == most
    with pytest.raises(ConfigError) as info:
        load_settings(environ={"HOMECAT_NUM_WORKERS": str(most + 1)}, cwd=tmp_path)
    assert info.value.lines == [
        f"env HOMECAT_NUM_WORKERS: training.num_workers: Value error, at most {most} ({WORKERS_PER_CORE} per CPU "
        f"core this process may use) (got '{most + 1}')"
    ]


@pytest.mark.parametrize(
    ("training", "what"),
    [
        ({"per_gpu_batch": 10**9}, "training.per_gpu_batch 1000000000 x grad_accum_steps 8 crops of 8 s"),
        ({"per_gpu_batch": 64, "grad_accum_steps": 10_000}, "a step's held micro-batches"),
        ({"model_overrides": {"hidden_size": 10**6}}, "with a model of "),
    ],
    ids=["per_gpu_batch 1e9", "grad_accum_steps x batch", "hidden_size 1e6"],
)
def test_a_batch_or_model_larger_than_the_memory_is_refused_before_anything_is_built(tmp_path, training, what):
    """The estimate is a lower bound (model 16 bytes per parameter, crops, first convolution, hidden states, held
    micro-batches) checked against the memory the micro-batch lives in; nothing is allocated."""
    from transformers import Wav2Vec2Config

    from homecat.train.bounds import _memory_bytes, check_memory
    from tests.conftest import TINY

    overrides = {**TINY, **training.pop("model_overrides", {})}
    config_file = tmp_path / "c.yaml"
    config_file.write_text(yaml.safe_dump({"training": {"base_model": None, "model_overrides": overrides, **training}}))
    settings = load_settings(config_file, environ={}, cwd=tmp_path).settings
    config = Wav2Vec2Config(**overrides)
    memory, where = _memory_bytes()
    with pytest.raises(ConfigError) as info:
        check_memory(settings, config, memory, where)
    (line,) = info.value.lines
    assert what in line and f"of {where}: lower per_gpu_batch" in line, line
    # the tiny model with the default batch fits in a fraction of a GiB
    check_memory(load_settings(environ={}, cwd=tmp_path).settings, Wav2Vec2Config(**TINY), 2**30, "1 GiB")
