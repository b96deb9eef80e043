#!/usr/bin/env bash
# Install the project with its test extras and run the whole test suite.
# Usage: bash scripts/test.sh [pytest args...]   (works from any cwd)
#
# PostgreSQL and Redis: TEST_DATABASE_URL / TEST_REDIS_URL if set; else the
# machine's own on 127.0.0.1:5432 (user postgres, database test) and
# 127.0.0.1:6379 (db 15) if they answer; else a throwaway server on a free port
# (binaries installed with apt-get when missing), removed again at exit.
# PG_PROBE_PORT / REDIS_PROBE_PORT change the probed ports (e.g. point them at a
# closed port to force the throwaway path).  NEEDS_BROWSER=0 skips the Chromium
# check that runs once tests/browser/ exists.
set -euo pipefail

# shellcheck source=scripts/bootstrap.sh
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
LOG_PREFIX=test.sh
bootstrap test

PG_PROBE_PORT="${PG_PROBE_PORT:-5432}"
REDIS_PROBE_PORT="${REDIS_PROBE_PORT:-6379}"

# ---------------------------------------------------------------- probes (stdlib only)

# Succeeds only when a full PostgreSQL login as USER to DB works without a
# password (reads up to ReadyForQuery): an open port alone may be a server
# without the `test` database or one that wants a password.
pg_login_ok() { # HOST PORT USER DB
    "$VENV_PY" - "$@" <<'PY'
import socket, struct, sys
host, port, user, db = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise OSError("connection closed")
        buf += chunk
    return buf
ok = False
try:
    with socket.create_connection((host, port), timeout=3) as s:
        body = struct.pack("!i", 196608)  # protocol 3.0
        body += b"user\0" + user.encode() + b"\0database\0" + db.encode() + b"\0\0"
        s.sendall(struct.pack("!i", len(body) + 4) + body)
        while True:
            kind = recv_exact(s, 1)
            payload = recv_exact(s, struct.unpack("!i", recv_exact(s, 4))[0] - 4)
            if kind == b"R" and struct.unpack("!i", payload[:4])[0] != 0:
                break  # server wants a password
            if kind == b"E":
                break  # e.g. database "test" does not exist
            if kind == b"Z":
                ok = True
                s.sendall(b"X\0\0\0\4")  # Terminate
                break
except (OSError, struct.error):
    pass
sys.exit(0 if ok else 1)
PY
}

redis_ping_ok() { # HOST PORT
    "$VENV_PY" - "$@" <<'PY'
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3) as s:
        s.sendall(b"PING\r\n")
        sys.exit(0 if s.recv(64).startswith(b"+PONG") else 1)
except OSError:
    sys.exit(1)
PY
}

free_port() {
    "$VENV_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---------------------------------------------------------------- cleanup of throwaways

PG_TMP="" PG_BIN="" REDIS_TMP=""
# Run a PostgreSQL binary as the postgres system user when we are root
# (initdb/postgres refuse root), from inside its own dir so an unreadable cwd
# such as /root cannot get in the way.
pg_run() {
    if [ "$(id -u)" -eq 0 ]; then
        (cd "$PG_TMP" && runuser -u postgres -- "$@")
    else
        (cd "$PG_TMP" && "$@")
    fi
}
# shellcheck disable=SC2317  # only reached through the EXIT trap
cleanup() {
    if [ -n "$PG_TMP" ] && [ -d "$PG_TMP" ]; then
        if [ -f "$PG_TMP/data/postmaster.pid" ]; then
            pg_run "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -m immediate -w stop >/dev/null 2>&1 || true
        fi
        rm -rf "$PG_TMP"
    fi
    if [ -n "$REDIS_TMP" ] && [ -d "$REDIS_TMP" ]; then
        local pid i
        pid="$(cat "$REDIS_TMP/redis.pid" 2>/dev/null || true)"
        if [ -n "$pid" ]; then
            kill "$pid" 2>/dev/null || true
            for i in $(seq 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
        fi
        rm -rf "$REDIS_TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- PostgreSQL

pg_bindir() {
    local f newest=""
    for f in /usr/lib/postgresql/*/bin/initdb; do
        [ -x "$f" ] && newest="$(printf '%s\n%s\n' "$newest" "$f" | sort -V | tail -n 1)"
    done
    [ -n "$newest" ] || newest="$(command -v initdb 2>/dev/null || true)"
    [ -n "$newest" ] && dirname "$newest"
}

# Installs Debian packages whose postinst would start a service (redis-server
# on 6379, PostgreSQL's cluster): we only need the binaries, so keep services
# from starting with a temporary policy-rc.d (Debian's switch for that) when
# none exists yet.
apt_install_no_start() {
    local policy=/usr/sbin/policy-rc.d added=0 rc=0
    can_be_root || return 1
    if ! as_root test -e "$policy"; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null &&
            as_root chmod 755 "$policy" && added=1
    fi
    apt_install "$@" || rc=$?
    if [ "$added" -eq 1 ]; then
        as_root rm -f "$policy" || true
    fi
    return "$rc"
}

# Debian's postgresql package, binaries only: no `main` cluster is created
# (so none needs to start) — we run our own throwaway instance.
install_postgres() {
    local conf=/etc/postgresql-common/createcluster.d/zz-test-sh-no-main-cluster.conf rc=0
    can_be_root || return 1
    as_root mkdir -p /etc/postgresql-common/createcluster.d || return 1
    printf 'create_main_cluster = false\n' | as_root tee "$conf" >/dev/null || return 1
    apt_install_no_start postgresql || rc=$?
    as_root rm -f "$conf" || true
    return "$rc"
}

# The server binaries, installed (without starting anything) when missing.
ensure_postgres_binaries() {
    [ -n "$(pg_bindir || true)" ] && return 0
    install_postgres || true
    [ -n "$(pg_bindir || true)" ]
}

start_throwaway_postgres() {
    local port sockdir
    ensure_postgres_binaries ||
        die "PostgreSQL is not reachable on 127.0.0.1:$PG_PROBE_PORT and its server binaries are missing and could not be installed: run as root (or with passwordless sudo) or 'apt-get install postgresql', or set TEST_DATABASE_URL"
    PG_BIN="$(pg_bindir)"
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || die "a throwaway PostgreSQL must run as the 'postgres' system user (initdb refuses root), and it does not exist: 'apt-get install postgresql' creates it"
        # /tmp, not $TMPDIR: the postgres user must be able to reach the dir.
        PG_TMP="$(mktemp -d /tmp/test-pg.XXXXXX)"
        chown postgres: "$PG_TMP"
    else
        PG_TMP="$(mktemp -d "${TMPDIR:-/tmp}/test-pg.XXXXXX")"
    fi
    sockdir="$PG_TMP"
    port="$(free_port)"
    pg_run "$PG_BIN/initdb" -D "$PG_TMP/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync \
        >"$PG_TMP/initdb.log" 2>&1 ||
        { tail -n 20 "$PG_TMP/initdb.log" >&2; die "initdb of the throwaway PostgreSQL failed"; }
    # Durability off: a test database that is thrown away need not survive a crash.
    pg_run "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -l "$PG_TMP/server.log" -w -t 60 \
        -o "-p $port -k $sockdir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >/dev/null ||
        { tail -n 20 "$PG_TMP/server.log" >&2; die "the throwaway PostgreSQL did not start"; }
    "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres -w test ||
        die "could not create database 'test' in the throwaway PostgreSQL"
    TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:$port/test"
    PG_DESC="own throwaway PostgreSQL $("$PG_BIN/postgres" -V | awk '{print $3}') on 127.0.0.1:$port"
}

if [ -n "${TEST_DATABASE_URL:-}" ]; then
    PG_DESC="PostgreSQL from TEST_DATABASE_URL"
elif pg_login_ok 127.0.0.1 "$PG_PROBE_PORT" postgres test; then
    TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:$PG_PROBE_PORT/test"
    PG_DESC="existing PostgreSQL on 127.0.0.1:$PG_PROBE_PORT"
else
    log "no PostgreSQL with database 'test' for user postgres on 127.0.0.1:$PG_PROBE_PORT: starting a throwaway one"
    start_throwaway_postgres
fi

# ---------------------------------------------------------------- Redis

have_redis_server() {
    local p
    p="$(command -v redis-server 2>/dev/null)" && [ -x "$p" ]
}

ensure_redis_server() {
    have_redis_server && return 0
    apt_install_no_start redis-server || true
    have_redis_server
}

start_throwaway_redis() {
    local port i
    ensure_redis_server ||
        die "Redis is not reachable on 127.0.0.1:$REDIS_PROBE_PORT and redis-server is missing and could not be installed: run as root (or with passwordless sudo) or 'apt-get install redis-server', or set TEST_REDIS_URL"
    REDIS_TMP="$(mktemp -d "${TMPDIR:-/tmp}/test-redis.XXXXXX")"
    port="$(free_port)"
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
        --pidfile "$REDIS_TMP/redis.pid" --dir "$REDIS_TMP" --logfile "$REDIS_TMP/redis.log" ||
        die "the throwaway redis-server did not start"
    for i in $(seq 100); do
        redis_ping_ok 127.0.0.1 "$port" && break
        [ "$i" -lt 100 ] || { tail -n 20 "$REDIS_TMP/redis.log" >&2; die "the throwaway redis-server does not answer PING"; }
        sleep 0.1
    done
    TEST_REDIS_URL="redis://127.0.0.1:$port/15"
    REDIS_DESC="own throwaway Redis on 127.0.0.1:$port"
}

if [ -n "${TEST_REDIS_URL:-}" ]; then
    REDIS_DESC="Redis from TEST_REDIS_URL"
elif redis_ping_ok 127.0.0.1 "$REDIS_PROBE_PORT"; then
    TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PROBE_PORT/15"
    REDIS_DESC="existing Redis on 127.0.0.1:$REDIS_PROBE_PORT"
else
    log "no Redis answering PING on 127.0.0.1:$REDIS_PROBE_PORT: starting a throwaway one"
    start_throwaway_redis
fi

# ---------------------------------------------------------------- fault-test binaries

# tests/test_faults.py stops and starts servers of its own, never the ones
# above, so it needs both binaries even when the shared servers answer.
# Installed without starting anything; if that fails, those tests say so.
ensure_redis_server || log "redis-server is missing and could not be installed: tests/test_faults.py will fail"
ensure_postgres_binaries || log "PostgreSQL's server binaries are missing and could not be installed: tests/test_faults.py will fail"

# ---------------------------------------------------------------- browser (Playwright + Debian chromium)

# Playwright cannot download its own browser here; the browser tests use
# Debian's chromium through CHROMIUM_EXECUTABLE.
ensure_chromium() {
    if [ ! -x /usr/bin/chromium ]; then
        apt_install chromium || true
        [ -x /usr/bin/chromium ] ||
            die "/usr/bin/chromium is missing and could not be installed: 'apt-get install chromium' (or NEEDS_BROWSER=0 to skip the browser tests' setup)"
    fi
    # A CJK font, so the screenshots the browser tests save show Chinese, not boxes.
    if ! fc-list 2>/dev/null | grep -qi "wqy\|noto.*cjk"; then
        apt_install fonts-wqy-microhei || log "no CJK font installed: screenshots will show boxes for Chinese"
    fi
    export CHROMIUM_EXECUTABLE=/usr/bin/chromium
}
if [ "${NEEDS_BROWSER:-1}" != "0" ] && [ -e "$REPO_ROOT/tests/browser" ]; then
    ensure_chromium
fi

# ---------------------------------------------------------------- pytest

export TEST_DATABASE_URL TEST_REDIS_URL
log "using $PG_DESC; $REDIS_DESC"
cd "$REPO_ROOT"
rc=0
"$VENV_PY" -m pytest "$@" || rc=$?
if [ "$rc" -eq 5 ]; then
    log "ERROR: pytest collected no tests (exit 5): a run that tests nothing is a failure"
    exit 1
fi
exit "$rc"
