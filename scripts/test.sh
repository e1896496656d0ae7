#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian/Ubuntu machine, builds, runs every test.
# Reads nothing outside the repository but ../shared/boards/foreign-v2 (an independent board
# firmware the protocol tests run against; .ci/run needs that folder beside the project).
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v socat >/dev/null || need+=(socat)
command -v influxd >/dev/null || need+=(influxdb)
command -v influx >/dev/null || need+=(influxdb-client)
command -v chromium >/dev/null || need+=(chromium)
[ -d /usr/share/datasets/fashion-mnist ] || need+=(dataset-fashion-mnist)
/usr/bin/python3 -c "import h5py" 2>/dev/null || need+=(python3-h5py)
# ../shared/boards/foreign-v2 (the independent test board) runs on Debian's python3 with numpy.
/usr/bin/python3 -c "import numpy" 2>/dev/null || need+=(python3-numpy)
# The queue tests start their own redis-server (loopback, a free port, a temporary folder).
command -v redis-server >/dev/null || need+=(redis-server)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund
npm run build
# Two test files at a time: most wait on serial lines, ptys, browsers and servers, not the CPU
# (1368 s against 2120 s one at a time on a 2-core VM, 2026-12-04; every timing rule in the
# tests holds on a loaded machine, which is what CI is).
node --test --test-concurrency=2 dist/tests/
