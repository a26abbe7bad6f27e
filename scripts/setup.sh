#!/usr/bin/env bash
# Sets up everything in .venv: the service, its dev tools, and the model files (pulled, checked
# against their pinned SHA-256, the voice model exported to ONNX). Idempotent; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev,export]"
.venv/bin/identity-service models pull
# Debian's Chromium and ChromeDriver, for the browser tests of the capture page and /docs (the
# service itself needs neither). Installed when missing and apt can install as root; otherwise
# the tests say how to get them (or LIKENESS_TEST_SKIP_BROWSER=1 skips them explicitly).
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's chromium and chromium-driver for the browser tests" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; } \
      || echo "could not install chromium: the browser tests will say so" >&2
  else
    echo "chromium and chromedriver are missing: install Debian's chromium and chromium-driver for the browser tests" >&2
  fi
fi
echo "setup done: .venv/bin/identity-service is ready" >&2
