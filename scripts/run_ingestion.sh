#!/usr/bin/env bash
# Ingestion stage: catalog the raw audio (headers only, incremental). Arguments go to `homecat scan`.
#   scripts/run_ingestion.sh --root /scratch/me/RawAudioData --hash
set -euo pipefail
. "$(dirname "$0")/_env.sh"
homecat scan "$@"
homecat report summary
homecat export -o "${EXPORT_DIR:-artifacts/export}" --only raw_audio_manifest.parquet
