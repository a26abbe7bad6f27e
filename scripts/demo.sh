#!/usr/bin/env bash
# The quickstart, end to end against a real server (see scripts/demo.py); run after the setup command.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python scripts/demo.py "$@"
