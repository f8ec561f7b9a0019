#!/usr/bin/env bash
# The test command: install what the tests need into .venv, then run the whole suite.
#   bash scripts/test.sh            # all tests
#   bash scripts/test.sh -k scan    # extra arguments go to pytest
set -euo pipefail
SETUP_EXTRAS=dev . "$(dirname "$0")/_setup.sh"
ruff check homecat tests bench
python -m pytest -q "$@"
