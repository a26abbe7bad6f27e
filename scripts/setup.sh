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
echo "setup done: .venv/bin/identity-service is ready" >&2
