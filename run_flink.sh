#!/usr/bin/env bash
# Run the pipeline on a Flink cluster (see README.md, "Running on Flink"); a thin wrapper
# over `signkps flink` that creates .venv first:
#   ./run_flink.sh --flink_master HOST:PORT --input_root C --output_root O [options]
#   ./run_flink.sh --local_cluster --input_root C --output_root O [options]   (a throwaway cluster here)
#   ./run_flink.sh --fetch_only      download the pinned Flink and Beam job server into the cache
# Starts Beam's Flink job server and a Python worker pool here, and stops them when done.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure_venv.sh
ensure_venv ""
exec signkps flink "$@"
