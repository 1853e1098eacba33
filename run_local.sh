#!/usr/bin/env bash
# Run the pipeline on this machine: DirectRunner, one worker process per core.
#   ./run_local.sh --demo                         a small corpus built from a sample image
#   ./run_local.sh --input_root C --output_root O [options]   (see README.md)
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure_venv.sh
ensure_venv ""
exec python -m pipeline.local "$@"
