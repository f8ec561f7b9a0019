#!/usr/bin/env bash
# Validation stage: stream new or changed recordings once (findings, stats, levels). Arguments go to
# `homecat validate`; run after scripts/run_ingestion.sh.
#   scripts/run_validation.sh --workers 16
set -euo pipefail
. "$(dirname "$0")/_env.sh"
homecat validate "$@"
homecat report findings --severity error
homecat report silence --plot "${ARTIFACTS_DIR:-artifacts}/silence.png"
homecat export -o "${EXPORT_DIR:-artifacts/export}" \
    --only invalid_files.parquet --only audio_stats.parquet --only summary.json
