#!/usr/bin/env bash
# Runs benchmarks.scaling on a bare many-core host that cannot reach PyPI (the project's
# lent GPU host, Python 3.12): the Python packages come as one tarball of an unpacked
# site folder (SITE_TARBALL), made elsewhere from the pinned wheels, and MediaPipe's
# libEGL from Debian packages in .gl/ if that folder exists. Output goes to $OUT.
#
#   SITE_TARBALL=.devbench/site312.tar.xz SIGNKPS_TEST_ASSETS=.devbench/assets \
#       OUT=/tmp/out benchmarks/scaling_host.sh --workers 1 4 16
#
# Arguments go to benchmarks.scaling (default: --workers 1 4 16).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/signkps-scaling-out}
mkdir -p "$OUT"
if [ -d .gl ] && ! ldconfig -p | grep -q libEGL.so.1; then
    for deb in .gl/*.deb; do dpkg -x "$deb" /; done
    ldconfig
fi
if [ -n "${SITE_TARBALL:-}" ]; then
    mkdir -p /tmp/signkps-site
    for tarball in $SITE_TARBALL; do tar -xJf "$tarball" -C /tmp/signkps-site; done
    export PYTHONPATH="/tmp/signkps-site:$PWD"
fi
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
{
    nproc
    grep -m1 "model name" /proc/cpuinfo || true
    free -g | head -2
    "$PY" - <<'PY'
import platform, numpy, cv2, mediapipe, apache_beam
print("python", platform.python_version(), "numpy", numpy.__version__, "cv2", cv2.__version__,
      "mediapipe", mediapipe.__version__, "beam", apache_beam.__version__)
PY
} 2>&1 | tee "$OUT/host.txt"
status=0
[ $# -gt 0 ] || set -- --workers 1 4 16
"$PY" -m benchmarks.scaling "$@" --workdir /tmp/signkps-scaling \
    2>&1 | tee "$OUT/scaling.jsonl" || status=$?
(cd /tmp/signkps-scaling && tar -czf "$OUT/logs.tgz" ./*/logs) || true
exit "$status"
