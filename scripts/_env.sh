# Sourced by the stage wrappers and the SLURM script: run from the repository root with the environment the
# user activated (conda, module, venv; its torch build matches the cluster's CUDA). Nothing is installed here:
# only scripts/demo.sh and scripts/test.sh make their own .venv (scripts/_setup.sh).
# REQUIRE lists the commands the caller needs (default: homecat).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
for command in ${REQUIRE:-homecat}; do
    if ! command -v "$command" >/dev/null 2>&1; then
        echo "Error: '$command' is not on PATH: activate the environment homecat is installed in (conda activate …, module load …, source .venv/bin/activate), or install it there with 'pip install -e .' after the torch build that matches your CUDA (README: Installing on a cluster)." >&2
        exit 127
    fi
done
