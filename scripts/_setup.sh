# Sourced by the other scripts: make sure .venv exists with homecat installed, then activate it.
# Set SETUP_EXTRAS (e.g. "dev" or "probe,vad") for optional dependencies; TORCH_SPEC picks the torch build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -x .venv/bin/python ]; then
    "${PYTHON:-python3}" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
stamp=".venv/.homecat-installed-${SETUP_EXTRAS:-base}"
up_to_date() { [ -f "$1" ] && ! [ pyproject.toml -nt "$1" ]; }
# the dev install includes the base one and every optional extra
if up_to_date "$stamp" || up_to_date .venv/.homecat-installed-dev; then
    :
else
    python -m pip install -q --upgrade pip
    # torch first and pinned: on CPU machines this is the CPU build (a plain 'torch' pulls a multi-GB CUDA build);
    # on GPU clusters set TORCH_SPEC (e.g. TORCH_SPEC=torch) to get the CUDA build that suits the node.
    python -m pip install -q "${TORCH_SPEC:-torch==2.13.0}"
    python -m pip install -q -e ".${SETUP_EXTRAS:+[$SETUP_EXTRAS]}"
    touch "$stamp"
fi
