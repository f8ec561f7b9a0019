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
