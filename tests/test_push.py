"""`homecat push` end to end: the real huggingface_hub client against a loopback stand-in Hub.

huggingface_hub reads HF_ENDPOINT when it is imported, so every push runs the real CLI in a
subprocess (`python -m homecat push …`) with HF_ENDPOINT pointing at the stand-in (tests/hub_server.py).
Nothing of huggingface_hub is mocked.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

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
    staged = stage(settings, run=run)
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
    assert stage(settings).source == newer / "final"


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
