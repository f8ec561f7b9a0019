#!/usr/bin/env bash
# Transformation stage: participant-grouped splits, then the export files (train_split.parquet,
# dev_split.parquet, split_summary.json, ...). Arguments go to `homecat split`.
#   scripts/run_transformation.sh --seed 0          # add --reshuffle --yes to start over
set -euo pipefail
. "$(dirname "$0")/_env.sh"
homecat split "$@"
homecat report splits
homecat export -o "${EXPORT_DIR:-artifacts/export}" \
    --only train_split.parquet --only dev_split.parquet --only split_summary.json
