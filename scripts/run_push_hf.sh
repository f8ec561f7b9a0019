#!/usr/bin/env bash
# Publishing stage: push a trained model and its model card to the Hugging Face Hub.
# Token, repository and visibility come from HF_TOKEN / HF_REPO_ID / HF_PRIVATE (environment or .env
# at the repository root). Arguments go to `homecat push`; paths are relative to the repository root.
#   scripts/run_push_hf.sh --run artifacts/training/run1 --dry-run     # stage, check, list; send nothing
#   scripts/run_push_hf.sh --run artifacts/training/run1 --include-checkpoints
set -euo pipefail
. "$(dirname "$0")/_env.sh"
homecat push "$@"
