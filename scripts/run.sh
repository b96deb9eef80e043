#!/usr/bin/env bash
# Install (first time / when pyproject.toml changed) and run the service.
# Usage: bash scripts/run.sh [server.py args...]   (works from any cwd)
set -euo pipefail

# shellcheck source=scripts/bootstrap.sh
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
LOG_PREFIX=run.sh
bootstrap ""

cd "$REPO_ROOT"
exec "$VENV_PY" server.py "$@"
