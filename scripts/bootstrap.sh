# shellcheck shell=bash
# Sourced by scripts/run.sh and scripts/test.sh (not run on its own).
# Provides `bootstrap [EXTRAS]`: find Python >= 3.11, create .venv in the repo
# root, install the project into it.  Works on a fresh Debian 12 that has only
# python3 (python3-venv is installed through apt when we are root or have
# passwordless sudo).
set -euo pipefail

# Repo root from this file's own path, so callers may run from any cwd.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_DIR="$REPO_ROOT/.venv"
VENV_PY="$VENV_DIR/bin/python"

# Never let pip or apt wait for a keyboard (CI has no stdin).
export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1

log() { printf '%s: %s\n' "${LOG_PREFIX:-bootstrap}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Run a command as root: directly when we are root, else through passwordless
# sudo; fails (status 1) when neither is possible, so callers can explain.
can_be_root() {
    [ "$(id -u)" -eq 0 ] || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }
}
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        return 1
    fi
}

# apt-get install without prompts; `apt-get update` once per process, because a
# fresh machine has empty package lists.  Output goes to a log shown on failure.
_APT_UPDATED=0
apt_install() {
    can_be_root || return 1
    command -v apt-get >/dev/null 2>&1 || return 1
    local aptlog rc=0
    aptlog="$(mktemp "${TMPDIR:-/tmp}/apt.XXXXXX")"
    log "installing Debian package(s): $* (apt-get)"
    {
        if [ "$_APT_UPDATED" -eq 0 ]; then
            as_root env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 update &&
                _APT_UPDATED=1
        fi &&
            as_root env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300 \
                -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
                install --no-install-recommends "$@"
    } </dev/null >"$aptlog" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
        tail -n 20 "$aptlog" >&2
        log "apt-get install $* failed (exit $rc)"
    fi
    rm -f "$aptlog"
    return "$rc"
}

# Python >= 3.11: $PYTHON if given, else the first suitable one on PATH.
find_python() {
    local c
    for c in ${PYTHON:-} python3.11 python3 python3.12 python3.13; do
        if command -v "$c" >/dev/null 2>&1 &&
            "$c" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$c"
            return 0
        fi
    done
    return 1
}

# A usable venv runs, is >= 3.11 and has pip (a failed `python -m venv` without
# ensurepip leaves a .venv with no pip behind).
venv_ok() {
    [ -x "$VENV_PY" ] &&
        "$VENV_PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null &&
        "$VENV_PY" -m pip --version >/dev/null 2>&1
}

create_venv() {
    local py="$1" ver
    if "$py" -m venv "$VENV_DIR" >/dev/null 2>&1 && venv_ok; then
        return 0
    fi
    rm -rf "$VENV_DIR"
    # Debian splits venv/ensurepip out of python3 into python3.X-venv.
    ver="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    if can_be_root && command -v apt-get >/dev/null 2>&1; then
        apt_install "python$ver-venv" || apt_install python3-venv ||
            die "could not install python$ver-venv / python3-venv with apt-get"
        if "$py" -m venv "$VENV_DIR" && venv_ok; then
            return 0
        fi
        rm -rf "$VENV_DIR"
    fi
    die "'$py -m venv' failed (ensurepip missing?): install it first, e.g. 'sudo apt-get install python$ver-venv', then re-run"
}

# bootstrap [EXTRAS] — e.g. `bootstrap test` installs '.[test]'.
bootstrap() {
    local extras="${1:-}" py stamp want have target
    [ -f "$REPO_ROOT/pyproject.toml" ] || die "$REPO_ROOT/pyproject.toml not found"

    if ! venv_ok; then
        py="$(find_python)" || die "Python >= 3.11 not found: install it (Debian 12: 'apt-get install python3 python3-venv') or set PYTHON=/path/to/python3.11"
        if [ -e "$VENV_DIR" ]; then
            log "removing unusable $VENV_DIR"
            rm -rf "$VENV_DIR"
        fi
        log "creating $VENV_DIR with $py"
        create_venv "$py"
    fi

    # Skip pip entirely when pyproject.toml is unchanged since the last install
    # with these extras (one stamp per extras set: run.sh and test.sh differ).
    stamp="$VENV_DIR/.bootstrap-stamp-${extras:-base}"
    want="$(sha256sum "$REPO_ROOT/pyproject.toml" | cut -d' ' -f1)"
    have="$(cat "$stamp" 2>/dev/null || true)"
    if [ "$want" = "$have" ]; then
        return 0
    fi

    target="."
    [ -n "$extras" ] && target=".[$extras]"
    log "installing project ($target) into .venv"
    # A failed pip upgrade (e.g. offline with a recent pip) is not fatal.
    "$VENV_PY" -m pip install -q --upgrade pip || log "warning: pip upgrade failed, going on"
    (cd "$REPO_ROOT" && "$VENV_PY" -m pip install -q -e "$target") ||
        die "pip install -e '$target' failed (see above)"
    printf '%s\n' "$want" >"$stamp"
}
