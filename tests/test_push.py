"""`homecat push` end to end: the real huggingface_hub client against a loopback stand-in Hub.

huggingface_hub reads HF_ENDPOINT when it is imported, so every push runs the real CLI in a
subprocess (`python -m homecat push …`) with HF_ENDPOINT pointing at the stand-in (tests/hub_server.py).
Nothing of huggingface_hub is mocked.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from homecat.errors import ConfigError, HomecatError
from homecat.hub import MODEL_FILES, stage
from homecat.modelcard import find_identifiers, index_identifiers, model_card
from homecat.settings import HubSettings, load_settings
from tests.hub_server import StandInHub

REPO_ROOT = Path(__file__).resolve().parents[1]
TOKEN = "hf_fake-test-token-SECRET-0123"  # not a real token; distinctive so leaks are found
REPO = "lab/wav2vec2-homes"
PUSHED = {"README.md", "config.json", "model.safetensors", "preprocessor_config.json"}
PARTICIPANTS = ["P01", "P02", "P03"]
REL_PATHS = {
    "train": ["P01/P01_2023-04-02_home.wav", "P01/day2/P01_2023-04-09_home.flac", "P02/P02_2023-05-11.wav"],
    "dev": ["P03/P03_2023-06-30_kitchen.wav"],
}
TRAINER_STATE = {
    "global_step": 10,
    "max_steps": 10,
    "train": {"loss": 4.1234, "codevector_perplexity": 7.25},
    "dev": {"loss": 4.5678, "codevector_perplexity": 6.5},
    "data": {
        "train_hours": 12.34,
        "dev_hours": 1.5,
        "train_recordings": 3,
        "dev_recordings": 1,
        "train_participants": 2,
        "dev_participants": 1,
    },
    "crop_sec": 8.0,
    "base_model": "facebook/wav2vec2-base",
    "effective_batch_crops": 16,
    "hardware": "1x CPU",
    "mixed_precision": "no",
    "homecat_version": "0.1.0",
    "git_commit": "0123456789abcdef0123456789abcdef01234567",
}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny random Wav2Vec2ForPreTraining and feature extractor, saved once per session."""
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForPreTraining

    config = Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
        conv_dim=(32, 32), conv_stride=(5, 4), conv_kernel=(10, 8), num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2, codevector_dim=16, proj_codevector_dim=16, num_codevectors_per_group=8,
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("tiny_model")
    Wav2Vec2ForPreTraining(config).save_pretrained(folder, safe_serialization=True)
    Wav2Vec2FeatureExtractor(sampling_rate=16000).save_pretrained(folder)
    return folder


def _model_folder(target: Path, tiny_model: Path, name_or_path: str) -> None:
    target.mkdir(parents=True)
    for name in MODEL_FILES:
        (target / name).write_bytes((tiny_model / name).read_bytes())
    config = json.loads((target / "config.json").read_text())
    config["_name_or_path"] = name_or_path  # a local path that must not be published
    (target / "config.json").write_text(json.dumps(config, indent=2))


@pytest.fixture
def make_run(tmp_path, tiny_model):
    """A run folder as the trainer writes it: final/, checkpoints/step_5/, trainer_state.json, index/."""

    def make(state: dict | None = None, name: str = "run1") -> Path:
        run = tmp_path / "artifacts" / "training" / name
        _model_folder(run / "final", tiny_model, str(run / "final"))
        ckpt = run / "checkpoints" / "step_5"
        _model_folder(ckpt, tiny_model, str(ckpt))
        for extra in ("optimizer.bin", "scheduler.bin", "random_states_0.pkl"):
            (ckpt / extra).write_bytes(b"accelerate state")
        (run / "trainer_state.json").write_text(json.dumps(TRAINER_STATE if state is None else state))
        (run / "config.yaml").write_text(f"data:\n  raw_audio_root: {tmp_path / 'RawAudioData'}\n")
        (run / "index").mkdir()
        for split, paths in REL_PATHS.items():
            table = pa.table({
                "rel_path": paths,
                "recording_id": [Path(p).stem for p in paths],
                "participant_id": [p.split("/")[0] for p in paths],
                "duration_sec": [3600.0] * len(paths),
            })  # fmt: skip
            pq.write_table(table, run / "index" / f"{split}.parquet")
        return run

    return make


@pytest.fixture
def hub():
    server = StandInHub(tokens={TOKEN}).start()
    yield server
    server.stop()
    assert server.unknown == [], f"the client called endpoints the stand-in lacks: {server.unknown}"


@pytest.fixture
def cli(tmp_path, hub):
    """Run `python -m homecat push ARGS` in tmp_path against the stand-in Hub; a clean environment."""

    def run(*args: str, env: dict[str, str] | None = None, endpoint: str | None = None) -> subprocess.CompletedProcess:
        # make_run's runs were never embedded or probed: push refuses them without this flag (tested below)
        args = (*args, "--without-probe-evidence")
        base = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HOMECAT_", "HUGGINGFACE_"))}
        base.update(
            HF_ENDPOINT=endpoint or hub.url,
            HF_HUB_DISABLE_TELEMETRY="1",
            HF_HOME=str(tmp_path / "hf_home"),
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
            NO_COLOR="1",
        )
        base.update(env or {})
        return subprocess.run(
            [sys.executable, "-m", "homecat", "push", *args],
            cwd=tmp_path, env=base, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    return run


def _identifying_strings(run: Path) -> list[str]:
    out = set(PARTICIPANTS) | {str(run.parents[2])}
    for paths in REL_PATHS.values():
        for rel in paths:
            out |= {rel, Path(rel).name, Path(rel).stem}
    return sorted(out)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- pushing


def test_push_sends_exactly_the_model_and_card_privately(make_run, cli, hub, tmp_path):
    run = make_run()
    result = cli("--run", str(run), env={"HF_TOKEN": TOKEN, "HF_REPO_ID": REPO})
    assert result.returncode == 0, result.stderr
    assert hub.paths() == [
        "POST /api/repos/create",
        f"GET /api/models/{REPO}",
        "POST /api/validate-yaml",
        f"POST /api/models/{REPO}/preupload/main",
        f"POST /api/models/{REPO}/commit/main",
    ]
    assert {r.authorization for r in hub.requests} == {f"Bearer {TOKEN}"}
    repo = hub.repos[REPO]
    assert repo.private is True
    assert len(repo.commits) == 1 and set(repo.files) == PUSHED
    assert repo.files["model.safetensors"] == (run / "final" / "model.safetensors").read_bytes()
    staging = run / "hub_staging"
    assert {p.name for p in staging.iterdir()} == PUSHED
    assert all(repo.files[name] == (staging / name).read_bytes() for name in PUSHED)
    assert "Pushed 4 files" in result.stdout and f"{hub.url}/{REPO}/commit/" in result.stdout

    # the secret and anything identifying stay at home
    everything = result.stdout + result.stderr
    assert TOKEN not in everything
    for name, data in repo.files.items():
        assert TOKEN.encode() not in data, name
        for needle in _identifying_strings(run):
            assert needle.encode() not in data, f"{needle!r} in {name}"
    assert "_name_or_path" not in json.loads(repo.files["config.json"])

    card = repo.files["README.md"].decode()
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta == {
        "base_model": "facebook/wav2vec2-base",
        "library_name": "transformers",
        "pipeline_tag": "feature-extraction",
        "license": "unknown",
        "tags": ["wav2vec2", "self-supervised-learning", "audio"],
    }  # neutral defaults: the user is asked to set them
    assert "hub.license and hub.language not set" in result.stderr
    for text in ("12.3 h / 1.5 h", "| 3 / 1 |", "| 2 / 1 |", "10 of 10 planned", "8 s", "4.1234", "4.5678",
                 "7.2", "6.5", "1x CPU", "0123456789ab", f'Wav2Vec2Model.from_pretrained("{REPO}")'):  # fmt: skip
        assert text in card, text


@pytest.mark.parametrize(
    "args, env, private",
    [
        (["--public"], {}, False),
        ([], {"HF_PRIVATE": "false"}, False),
        (["--private"], {"HF_PRIVATE": "false"}, True),
    ],
    ids=["--public", "HF_PRIVATE=false", "--private wins over HF_PRIVATE"],
)
def test_visibility(make_run, cli, hub, args, env, private):
    result = cli("--run", str(make_run()), "--repo-id", REPO, *args, env={"HF_TOKEN": TOKEN, **env})
    assert result.returncode == 0, result.stderr
    assert hub.repos[REPO].private is private
    assert ("(private)" if private else "(public)") in result.stdout


def test_existing_public_repo_is_not_pushed_to_when_private_is_wanted(make_run, cli, hub):
    run = make_run()
    assert cli("--run", str(run), "--repo-id", REPO, "--public", env={"HF_TOKEN": TOKEN}).returncode == 0
    result = cli("--run", str(run), "--repo-id", REPO, env={"HF_TOKEN": TOKEN})
    assert result.returncode == 1
    assert result.stderr == (
        f"Error: The repository {REPO} already exists and is public; nothing was pushed "
        "(make it private on the Hub, or pass --public to publish).\n"
    )
    assert len(hub.repos[REPO].commits) == 1


def test_dotenv_is_read_and_the_environment_and_flags_win(make_run, cli, hub, tmp_path):
    run = make_run()
    (tmp_path / ".env").write_text(f"HF_TOKEN={TOKEN}\nHF_REPO_ID=lab/from-dotenv\nHF_PRIVATE=false\n")
    assert cli("--run", str(run)).returncode == 0
    assert hub.repos["lab/from-dotenv"].private is False

    result = cli("--run", str(run), env={"HF_REPO_ID": "lab/from-env", "HF_PRIVATE": "true"})
    assert result.returncode == 0, result.stderr
    assert hub.repos["lab/from-env"].private is True

    assert cli("--run", str(run), "--repo-id", "lab/from-flag", env={"HF_REPO_ID": "lab/from-env"}).returncode == 0
    assert set(hub.repos) == {"lab/from-dotenv", "lab/from-env", "lab/from-flag"}


def test_include_checkpoints_pushes_their_model_files_in_folders(make_run, cli, hub):
    result = cli("--run", str(make_run()), "--repo-id", REPO, "--include-checkpoints", env={"HF_TOKEN": TOKEN})
    assert result.returncode == 0, result.stderr
    files = hub.repos[REPO].files
    assert set(files) == PUSHED | {f"checkpoints/step_5/{name}" for name in MODEL_FILES}
    assert "_name_or_path" not in json.loads(files["checkpoints/step_5/config.json"])
    assert 'subfolder="checkpoints/step_5"' in files["README.md"].decode()


def test_push_a_checkpoint(make_run, cli, hub):
    run = make_run()
    result = cli("--checkpoint", str(run / "checkpoints" / "step_5"), "--repo-id", REPO, env={"HF_TOKEN": TOKEN})
    assert result.returncode == 0, result.stderr
    assert set(hub.repos[REPO].files) == PUSHED
    card = hub.repos[REPO].files["README.md"].decode()
    assert "intermediate checkpoint (step 5)" in card
    # trainer_state.json describes step 10: its losses are not this checkpoint's
    assert "| Optimizer steps | 5 of 10 planned |" in card and "| Dev loss | not recorded |" in card
    assert "12.3 h / 1.5 h" in card
    assert "losses 'not recorded'" in result.stderr


def test_dry_run_lists_the_files_and_needs_no_token(make_run, cli, hub):
    run = make_run()
    result = cli("--run", str(run), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert hub.requests == []
    staging = run / "hub_staging"
    for name in PUSHED:
        assert name in result.stdout and str((staging / name).stat().st_size) in result.stdout
    assert "Dry run: would push 4 files" in result.stdout and "as a private repository" in result.stdout
    assert "(no repository set" in result.stdout


# --------------------------------------------------------------------------- failures


def test_missing_token(make_run, cli, hub):
    result = cli("--run", str(make_run()), "--repo-id", REPO)
    assert result.returncode == 1
    assert result.stderr == (
        "Error: No Hugging Face token: set HF_TOKEN in the environment or in .env (see .env.example).\n"
    )
    assert result.stdout == "" and hub.requests == []


def test_rejected_token(make_run, cli, hub):
    wrong = "hf_WRONGtoken9876543210zyxw"
    result = cli("--run", str(make_run()), "--repo-id", REPO, env={"HF_TOKEN": wrong})
    assert result.returncode == 1
    assert result.stderr == (
        f"Error: The Hub at {hub.url} rejected the token (HTTP 401): check HF_TOKEN, which must be a valid "
        "token with write access; nothing was pushed.\n"
    )
    assert result.stdout == "" and hub.repos == {}
    assert wrong not in result.stderr + result.stdout
    assert {r.authorization for r in hub.requests} == {f"Bearer {wrong}"}


def test_connection_refused(make_run, cli, hub):
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    result = cli("--run", str(make_run()), "--repo-id", REPO, env={"HF_TOKEN": TOKEN}, endpoint=endpoint)
    assert result.returncode == 1
    assert result.stderr == (
        f"Error: Could not reach the Hugging Face Hub at {endpoint} (connection refused); nothing was pushed.\n"
    )
    assert result.stdout == "" and TOKEN not in result.stderr


def test_timeout(make_run, cli, hub):
    hub.stall_sec = 2.0
    env = {"HF_TOKEN": TOKEN, "HOMECAT_REQUEST_TIMEOUT_SEC": "0.3"}
    result = cli("--run", str(make_run()), "--repo-id", REPO, env=env)
    assert result.returncode == 1
    assert result.stderr == (
        f"Error: Could not reach the Hugging Face Hub at {hub.url} (no answer within 0.3 s); nothing was pushed.\n"
    )
    assert result.stdout == ""


@pytest.mark.parametrize(
    "planted, reported",
    [
        ({"hardware": "gpu-node-P02"}, "contains 'P02' (participant_id from index/"),
        ({"mixed_precision": "fp16 P03_2023-06-30_kitchen"}, "contains 'P03_2023-06-30_kitchen' ("),
        ({"hardware": "/home/lab/cluster/node7"}, "contains an absolute path '/home/lab/cluster/node7'"),
        ({"hardware": "gpu node of P-02"}, "contains 'P02' (participant_id from index/"),
        ({"mixed_precision": "p03 2023 06 30 Kitchen"}, "contains 'P03_2023-06-30_kitchen' ("),
    ],
    ids=["participant id", "recording stem", "absolute path", "id written apart", "stem in other case and spacing"],
)
def test_identifying_strings_refuse_the_push(make_run, cli, hub, planted, reported):
    run = make_run({**TRAINER_STATE, **planted})
    result = cli("--run", str(run), "--repo-id", REPO, env={"HF_TOKEN": TOKEN})
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == (
        f"Error: Refusing to push: the staged files under {run / 'hub_staging'} name participants or paths; "
        "nothing was sent."
    )
    assert any(line.startswith("Error: README.md line ") and reported in line for line in lines[1:]), lines
    assert hub.requests == [] and result.stdout == ""


def test_a_hub_error_that_echoes_the_token_is_printed_without_it(make_run, cli, hub):
    hub.echo_status = 400
    result = cli("--run", str(make_run()), "--repo-id", REPO, env={"HF_TOKEN": TOKEN})
    assert result.returncode == 1
    assert result.stderr == (
        f"Error: The Hub refused the push to {REPO} (HTTP 400: cannot handle request with Authorization: "
        "Bearer …); nothing was pushed.\n"
    )
    assert hub.requests and {r.authorization for r in hub.requests} == {f"Bearer {TOKEN}"}


def test_a_hub_echoing_the_token_in_another_spelling_is_printed_without_it(make_run, cli, hub):
    hub.echo_status = 400
    hub.echo = lambda auth: base64.b64encode(auth.split()[1][3:].upper().encode()).decode()
    result = cli("--run", str(make_run()), "--repo-id", REPO, env={"HF_TOKEN": TOKEN})
    assert result.returncode == 1
    assert result.stderr == (
        f"Error: The Hub refused the push to {REPO} (HTTP 400: cannot handle request with Authorization: …); "
        "nothing was pushed.\n"
    )


_ECHOES = {
    "as sent": lambda t: t,
    "bare": lambda t: t.removeprefix("hf_"),
    "bare upper-cased": lambda t: t.removeprefix("hf_").upper(),
    "lower-cased": lambda t: t.lower(),
    "url-encoded": lambda t: quote(t, safe=""),
    "url-encoded upper": lambda t: quote(t.upper(), safe=""),
    "base64 of the header": lambda t: base64.b64encode(f"Bearer {t}".encode()).decode(),
    "base64 user:token (Basic)": lambda t: base64.b64encode(f"user:{t}".encode()).decode(),
    "base64 at offset 1": lambda t: base64.b64encode(f"x{t.removeprefix('hf_')}y".encode()).decode(),
    "urlsafe base64 upper": lambda t: (
        base64.urlsafe_b64encode(t.removeprefix("hf_").upper().encode()).decode().rstrip("=")
    ),
    "base64 lower": lambda t: base64.b64encode(t.lower().encode()).decode(),
}


@pytest.mark.parametrize("token", [TOKEN, "hf_" + "aB3dE6gH9j" * 3 + "kLmN", "plain-secret-without-prefix"])
@pytest.mark.parametrize("spelling", list(_ECHOES), ids=list(_ECHOES))
def test_redact_finds_the_token_in_any_case_or_encoding(token, spelling):
    from homecat.hub import redact

    echoed = _ECHOES[spelling](token)
    shown = redact(f"server says [{echoed}] and more", token)
    assert shown.startswith("server says [") and shown.endswith("] and more")
    inner = shown[len("server says [") : -len("] and more")]
    # what is left is the non-secret part around it ("Bearer ", "user:") and at most a character or two of the
    # encoding's edges
    assert "…" in inner and len(inner) <= max(len(echoed) - len(token), 0) + 4, inner
    assert redact("a message with ordinary words and the token name HF_TOKEN", token) == (
        "a message with ordinary words and the token name HF_TOKEN"
    )


def test_a_200_answer_that_is_not_json_is_one_sentence(make_run, cli, hub):
    hub.not_json = True
    result = cli("--run", str(make_run()), "--repo-id", REPO, env={"HF_TOKEN": TOKEN})
    assert result.returncode == 1
    assert result.stderr == (
        f"Error: The Hub at {hub.url} answered with something that is not JSON (is HF_ENDPOINT a Hub, or is a proxy "
        "or login page in between?); nothing was pushed.\n"
    )


def test_a_hub_trickling_its_answer_is_given_up_at_the_request_timeout(make_run, cli, hub):
    timeout_sec = 0.5
    hub.trickle_sec = timeout_sec / 5  # every read gets a byte well within the timeout: only a deadline ends it
    env = {"HF_TOKEN": TOKEN, "HOMECAT_REQUEST_TIMEOUT_SEC": str(timeout_sec)}
    result = cli("--run", str(make_run()), "--repo-id", REPO, env=env)
    assert result.returncode == 1
    assert result.stderr == (
        f"Error: Could not reach the Hugging Face Hub at {hub.url} (no answer within {timeout_sec:g} s); "
        "nothing was pushed.\n"
    )
    # the first answer (~150 bytes, ~30 s at this pace) was cut off; the client closed it, the server saw that
    # within a few more bytes, and no further request was made
    (hang_up,) = hub.hang_ups
    assert hang_up is not None and hang_up < 40 * hub.trickle_sec
    assert hub.paths() == ["POST /api/repos/create"]


@pytest.mark.parametrize("repo_id", ["hf_" + "aB3dE6gH9j" * 3 + "kLmN", "lab/hf_" + "aB3dE6gH9j" * 3 + "kLmN"])
def test_a_token_pasted_into_the_repository_id_is_refused_when_settings_load(tmp_path, repo_id):
    with pytest.raises(ConfigError) as info:
        load_settings(environ={"HF_REPO_ID": repo_id}, cwd=tmp_path)
    assert info.value.lines == [
        "env HF_REPO_ID: hub.repo_id: Value error, looks like a Hub token (hf_…), not a repository id: put the "
        "token in HF_TOKEN and namespace/name here"
    ]
    ok = load_settings(environ={"HF_REPO_ID": "lab/hf_wav2vec2-homes_2024"}, cwd=tmp_path).settings
    assert ok.hub.repo_id == "lab/hf_wav2vec2-homes_2024"


def test_the_configured_token_in_the_repository_id_is_refused_and_never_staged(make_run, tmp_path):
    run = make_run()
    for repo_id in (TOKEN, f"lab/{TOKEN[3:].upper()}"):
        settings = load_settings(environ={"HF_TOKEN": TOKEN, "HF_REPO_ID": repo_id}, cwd=tmp_path).settings
        with pytest.raises(HomecatError) as info:
            stage(settings, run=run)
        assert info.value.lines == [
            "The Hub repository id contains the Hub token (HF_TOKEN): set HF_REPO_ID or --repo-id to "
            "namespace/name; nothing was staged."
        ]
        assert not (run / "hub_staging").exists()


@pytest.mark.parametrize("name", ["HOMECAT_HUB__TOKEN", "HOMECAT_TOKEN"])
def test_the_token_is_read_only_from_hf_token(tmp_path, name):
    with pytest.raises(ConfigError) as info:
        load_settings(environ={name: TOKEN}, cwd=tmp_path)
    assert info.value.lines == [f"env {name}: set the Hub token as HF_TOKEN (environment or .env), not {name}."]
    (tmp_path / ".env").write_text(f"{name}={TOKEN}\n")
    with pytest.raises(ConfigError, match=f".env {name}: set the Hub token as HF_TOKEN"):
        load_settings(environ={}, cwd=tmp_path)


def test_hub_messages_lose_anything_that_looks_like_a_token():
    from homecat.hub import redact

    assert redact("echo: Bearer abc.def-123 and hf_AbCdEf0123456789 and token=s3cr3tvalue") == (
        "echo: Bearer … and hf_… and token=…"
    )
    assert redact("the token was my-own-plain-secret-value", "my-own-plain-secret-value") == "the token was …"
    assert redact("rejected the token (HTTP 401): check HF_TOKEN") == "rejected the token (HTTP 401): check HF_TOKEN"


def test_identifiers_match_across_case_spacing_punctuation_and_accents(tmp_path):
    forbidden = {"fam 02": "participant_id", "Élodie": "participant_id", "kid7": "participant_id"}
    folder = tmp_path / "scan"
    folder.mkdir()
    (folder / "ok.md").write_text("fam 020 and family 02; elodies; kid70 and skid7\n")
    assert find_identifiers(folder, forbidden) == []
    (folder / "bad.md").write_text("trained on me/fam-02\nFAM02 again\nwith ELODIE\nand KID 7\n")
    assert find_identifiers(folder, forbidden) == [
        "bad.md line 1 contains 'fam 02' (participant_id).",
        "bad.md line 2 contains 'fam 02' (participant_id).",
        "bad.md line 3 contains 'Élodie' (participant_id).",
        "bad.md line 4 contains 'kid7' (participant_id).",
    ]


def test_run_without_final_model(make_run, cli, tmp_path):
    run = make_run()
    (run / "final" / "model.safetensors").unlink()
    result = cli("--run", str(run), "--dry-run")
    assert result.returncode == 1
    assert result.stderr == f"Error: {run / 'final'} is not a complete model folder: model.safetensors missing.\n"


# --------------------------------------------------------------------------- library, in process


def test_card_says_not_recorded_for_missing_or_malformed_fields():
    card = model_card({"train": {"loss": "n/a"}, "data": None, "hardware": 7}, HubSettings())
    table = [line for line in card.splitlines() if line.startswith("| ")]
    assert sum(line.count("not recorded") for line in table) == 17  # every value of the summary table
    assert "base_model: facebook/wav2vec2-base" in card and "your-namespace/your-model" in card


def test_card_names_the_hub_base_model_not_a_local_path():
    card = model_card({"base_model": "/scratch/lab/models/wav2vec2-base"}, HubSettings(language=["en"]))
    assert "/scratch" not in card and "base_model: facebook/wav2vec2-base" in card
    assert "(loaded from a local copy)" in card and "hindi" not in card


def test_staged_folder_loads_with_wav2vec2model(make_run, tmp_path):
    from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2Model

    run = make_run()
    settings = load_settings(environ={}, cwd=tmp_path).settings
    staged = stage(settings, run=run, without_probe_evidence=True)
    assert [f.path_in_repo for f in staged.files] == sorted(PUSHED)
    model = Wav2Vec2Model.from_pretrained(staged.staging_dir)
    assert model.config.hidden_size == 32
    assert Wav2Vec2FeatureExtractor.from_pretrained(staged.staging_dir).sampling_rate == 16000


def test_newest_finished_run_is_the_default(make_run, tmp_path):
    older = make_run(name="older") / "final" / "model.safetensors"
    os.utime(older, (older.stat().st_atime, older.stat().st_mtime - 60))
    newer = make_run(name="newer")
    settings = load_settings(
        environ={}, cwd=tmp_path, overrides={"paths.artifacts_dir": tmp_path / "artifacts"}
    ).settings
    assert stage(settings, without_probe_evidence=True).source == newer / "final"


def test_identifier_matching(tmp_path, make_run):
    forbidden = index_identifiers(make_run())
    assert forbidden["P01"].startswith("participant_id from index/")
    assert {"P01_2023-04-02_home.wav", "P01_2023-04-02_home", "P01/day2/P01_2023-04-09_home.flac"} <= set(forbidden)
    folder = tmp_path / "scan"
    folder.mkdir()
    (folder / "ok.md").write_text(
        "P010 and XP01 are other ids; https://huggingface.co/facebook/wav2vec2-base; loss/perplexity; a / b\n"
        'subfolder="checkpoints/step_5"\n'
    )
    assert find_identifiers(folder, forbidden) == []
    (folder / "bad.md").write_text("x\nfrom p01_a at C:\\Users\\lab and ~/data/x\n")
    assert find_identifiers(folder, forbidden) == [
        "bad.md line 2 contains 'P01' (participant_id from index/train.parquet).",
        "bad.md line 2 contains an absolute path 'C:\\Users\\lab'.",
        "bad.md line 2 contains an absolute path '~/data/x'.",
    ]


def test_a_random_init_run_claims_no_base_model():
    from homecat.modelcard import model_card
    from homecat.settings import HubSettings

    card = model_card({"base_model": None, "global_step": 10}, HubSettings())
    metadata = card.split("---")[1]
    assert "base_model" not in metadata
    assert "randomly initialised" in card and "facebook/wav2vec2-base" not in card
    continued = model_card({"base_model": "facebook/wav2vec2-base"}, HubSettings())
    assert "base_model: facebook/wav2vec2-base" in continued and "after continued" in continued


# --------------------------------------------------------------------------- evidence of the weights pushed


@pytest.fixture(scope="module")
def probed_run(tmp_path_factory) -> dict:
    """The demo corpus (scanned, validated, split, its annotations as segments), a tiny random-init run trained to
    step 2, every model of the run embedded and probed (`embed --run`, `probe --run`): evidence at step 2."""
    import csv
    import hashlib

    from accelerate.state import AcceleratorState, GradientState

    from homecat.catalog import Catalog
    from homecat.demo import make_demo_corpus
    from homecat.embed import embed, run_sets
    from homecat.probe import probe_run
    from homecat.scan import scan
    from homecat.split import assign_splits
    from homecat.train import train
    from homecat.validate import validate
    from tests.conftest import TINY
    from tests.test_embed import add_segments

    base = tmp_path_factory.mktemp("evidence")
    corpus = make_demo_corpus(base / "raw", minutes=0.5)
    overrides = {
        "paths.catalog": base / "catalog.duckdb", "paths.artifacts_dir": base / "artifacts",
        "data.raw_audio_root": base / "raw", "split.dev_fraction": 0.3, "crops.crop_sec": 0.5,
        "crops.crops_per_epoch": 16, "crops.dev_crop_count": 2,
    }  # fmt: skip
    settings = load_settings(overrides=overrides, environ={}, cwd=base).settings
    with Catalog.open(settings.paths) as catalog:
        scan(catalog, settings.data)
        validate(catalog, settings.validate, settings.data, workers=1)
        assign_splits(catalog, settings.split)
        ids = dict(catalog.con.execute("SELECT rel_path, recording_id FROM recordings").fetchall())
    with open(corpus.events_csv, newline="") as f:
        add_segments(settings.paths.catalog, [
            (hashlib.sha1(f"{e['recording']}|{e['start_sec']}".encode()).hexdigest()[:16], ids[e["recording"]],
             float(e["start_sec"]), float(e["end_sec"]), e["label"])
            for e in csv.DictReader(f)
        ])  # fmt: skip
    t = settings.training.model_copy(
        update={"base_model": None, "model_overrides": TINY, "run_name": "tiny", "max_steps": 2, "per_gpu_batch": 2,
                "grad_accum_steps": 1, "num_negatives": 10, "num_workers": 0, "save_steps": 2, "eval_steps": 2,
                "warmup_steps": 1, "gradient_checkpointing": False, "report_to": "none"}
    )  # fmt: skip
    settings = settings.model_copy(update={"training": t})
    try:
        run = train(settings, show_progress=False)
    finally:
        AcceleratorState._reset_state(True)
        GradientState._reset_state()
    embed(settings, models=[model for _, model, _ in run_sets(run)])
    probe_run(settings, run, folds=3)  # 3: the fewest that leave inner folds to choose a layer on
    return {"settings": settings, "run": run}


def test_push_shows_only_probe_results_of_the_weights_it_pushes(probed_run):
    """Probed at step 2, resumed to step 4: final/ holds weights never probed, so push (dry run too) refuses in one
    sentence naming the commands, and with --without-probe-evidence the card has no probe numbers; the step-2
    checkpoint (the weights probed) still gets its own."""
    from accelerate.state import AcceleratorState, GradientState
    from typer.testing import CliRunner

    from homecat.catalog import Catalog
    from homecat.cli import app
    from homecat.train import train
    from homecat.weights import weights_of

    settings, run = probed_run["settings"], probed_run["run"]
    probed = weights_of(run / "final")
    assert (probed.run_name, probed.step) == ("tiny", 2)
    assert probed.sha256 == hashlib_file(run / "final" / "model.safetensors")  # sha256sum of the file
    with Catalog.open(settings.paths, read_only=True) as catalog:
        stored = catalog.con.execute(
            "SELECT DISTINCT set_name, step, weights_sha256 FROM probe_results ORDER BY step"
        ).fetchall()
    assert stored == [("tiny-initial", 0, weights_of(run / "initial").sha256), ("tiny-step_2", 2, probed.sha256)]

    card = stage(settings, run=run).card
    assert "| this model | " in card and "| starting model | " in card and f"sha256 `{probed.sha256}`, step 2" in card
    assert "type: uar" in card.split("---\n")[1]
    # this model against its start on the same 3 outer folds, each fold's layer chosen on its training families
    assert "| the starting model | **not distinguishable** | " in card and "| 3 |" in card
    assert "With 3 folds the smallest possible p is 0.250" in card and "| Features | Layer per fold |" in card

    resumed = settings.model_copy(update={"training": settings.training.model_copy(update={"max_steps": 4})})
    try:
        train(resumed, resume="latest", show_progress=False)
    finally:
        AcceleratorState._reset_state(True)
        GradientState._reset_state()
    pushed = weights_of(run / "final")
    assert pushed.step == 4 and pushed.sha256 != probed.sha256

    env = {"HOMECAT_ARTIFACTS_DIR": str(settings.paths.artifacts_dir)}
    result = CliRunner().invoke(
        app, ["--catalog", str(settings.paths.catalog), "push", "--run", str(run), "--dry-run"], env=env
    )
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: No probe result in {settings.paths.catalog} belongs to the weights pushed (sha256 "
        f"{pushed.sha256[:12]} (tiny step 4)): run 'homecat embed --run {run} --features egemaps' then "
        f"'homecat probe --run {run}' to make them, or push without probe numbers with --without-probe-evidence.\n"
    )
    card = stage(settings, run=run, without_probe_evidence=True).card
    assert "Did it help" not in card and "UAR" not in card and "uar" not in card.split("---\n")[1]
    assert "| Dev metric | step 0 | step 4 |" in card  # the dev figures are the run's own, up to the pushed step

    # `homecat evaluate` names the weights of each row and gives the run's logged dev rows, in the trainer's precision
    from homecat.evaluate import evaluate_run
    from homecat.train import read_metrics

    logged = {r["step"]: r for r in read_metrics(run) if r.get("split") == "dev"}
    try:
        rows = evaluate_run(settings, run)
    finally:
        AcceleratorState._reset_state(True)
        GradientState._reset_state()
    assert [(r["step"], r["weights_sha256"]) for r in rows] == [
        (0, weights_of(run / "initial").sha256), (2, probed.sha256), (4, pushed.sha256)
    ]  # fmt: skip
    precision = json.loads((run / "trainer_state.json").read_text())["mixed_precision"]
    for row in rows:
        assert row["mixed_precision"] == precision == "no"  # fp16 in config.yaml; fp32 without CUDA, as trained
        assert row["loss_per_masked_frame"] == pytest.approx(logged[row["step"]]["dev_loss"], rel=1e-5)
    table = CliRunner().invoke(app, ["evaluate", "--run", str(run)], env=env, terminal_width=250)
    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    assert table.exit_code == 0, table.output  # the table shows each row's weights by 12 digits (json: all 64)
    assert probed.sha256[:12] in table.stdout and probed.sha256 not in table.stdout

    # the checkpoint of step 2 holds the weights probed: its card shows them
    card = stage(settings, checkpoint=run / "checkpoints" / "step_2").card
    assert f"sha256 `{probed.sha256}`, step 2" in card and "| this model | " in card


def hashlib_file(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_dev_is_evaluated_in_the_precision_the_trainer_uses():
    """`homecat evaluate` follows the trainer's rule: training.mixed_precision on a CUDA GPU, fp32 without one."""
    from homecat.evaluate import dev_precision
    from homecat.settings import TrainingSettings

    for setting in ("fp16", "bf16", "no"):
        t = TrainingSettings(mixed_precision=setting)
        assert (dev_precision(t, cuda=True), dev_precision(t, cuda=False)) == (setting, "no")


def test_what_is_logged_during_the_upload_is_redacted_on_every_handler():
    """A library logging the request (huggingface_hub's debug output, a proxy error) while the push runs: the
    handlers write the message without the token, in whatever spelling; afterwards they are as they were."""
    import io
    import logging

    from homecat.hub import _redacted_logs

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("huggingface_hub")
    logger.addHandler(handler)
    try:
        with _redacted_logs(TOKEN):
            logger.warning("retrying with headers %s", {"authorization": f"Bearer {TOKEN}"})
            logger.warning("echo %s", base64.b64encode(TOKEN[3:].upper().encode()).decode())
        assert handler.filters == []
    finally:
        logger.removeHandler(handler)
    written = stream.getvalue()
    assert TOKEN not in written and TOKEN[3:].upper() not in written and written.count("…") == 2, written


def test_the_card_says_whether_it_helped_from_the_paired_test_over_folds():
    """This model against the starting model (higher on every one of 6 folds: better, p = 2/64) and eGeMAPS (signs
    mixed: not distinguishable): the card and model-index carry verdict, mean difference, interval, p and folds."""
    from homecat.compare import paired_comparison
    from homecat.evidence import Evidence, ProbeLine

    folds = {
        "this model": (0.70, 0.72, 0.69, 0.74, 0.71, 0.73),
        "starting model": (0.60, 0.61, 0.58, 0.66, 0.62, 0.60),
        "eGeMAPS": (0.71, 0.70, 0.70, 0.73, 0.72, 0.72),
    }
    lines = [
        ProbeLine(role, None if role == "eGeMAPS" else "7, 8, 7, 7, 7, 8", sum(u) / 6, 0.01, 0.6, u)
        for role, u in folds.items()
    ]
    compared = [paired_comparison(folds["this model"], folds[b], a="this model", b=b) for b in list(folds)[1:]]
    assert [c.verdict for c in compared] == ["better", "not distinguishable"]
    evidence = Evidence(
        probe=lines, labels=["adult", "infant"], n_segments=600, n_families=12, n_folds=6, chance=0.5,
        weights_sha256="ab" * 32, weights_step=400, comparisons=compared, chosen=True,
    )  # fmt: skip
    card = model_card({"global_step": 400}, HubSettings(), evidence=evidence)
    start, egemaps = compared
    assert (
        f"| the starting model | **better** | {start.mean_diff:+.3f} | {start.ci95[0]:+.3f} to {start.ci95[1]:+.3f} | "
        f"{start.p_value:.3f} | 6 |"
    ) in card
    assert f"| eGeMAPS | **not distinguishable** | {egemaps.mean_diff:+.3f} |" in card
    assert "| this model | 7, 8, 7, 7, 7, 8 |" in card and "| Features | Layer per fold |" in card
    assert "chosen on that fold's training families alone" in card and "smallest possible p" not in card
    meta = yaml.safe_load(card.split("---\n")[1])
    metrics = [m for r in meta["model-index"][0]["results"] for m in r["metrics"]]
    differences = {m["name"]: m["value"] for m in metrics if m["type"] == "uar_difference"}
    assert differences == {
        f"UAR difference against the starting model: better (95% CI {start.ci95[0]:+.3f} to {start.ci95[1]:+.3f}, "
        f"sign-flip p = {start.p_value:.3f}, 6 folds)": round(start.mean_diff, 4),
        f"UAR difference against eGeMAPS: not distinguishable (95% CI {egemaps.ci95[0]:+.3f} to "
        f"{egemaps.ci95[1]:+.3f}, sign-flip p = {egemaps.p_value:.3f}, 6 folds)": round(egemaps.mean_diff, 4),
    }
