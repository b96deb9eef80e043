"""Throwaway Redis and PostgreSQL servers that fault tests stop, hang and start again.

Never the machine's shared servers, which other suites and people are using: each instance here
runs from its own temporary directory on a free port of 127.0.0.1, and a restart comes back on
the same port, so a running service sees its own Redis or database go away and return.

    redis = RedisServer.launch()          # redis-server without persistence
    redis.stop(); redis.start()           # a restart: every key is gone
    redis.pause(); redis.resume()         # hung (SIGSTOP), then answering again with its keys
    postgres = PostgresServer.launch()    # initdb (once) and pg_ctl start
    postgres.stop(); postgres.start()     # fast shutdown: open transactions are rolled back
    ...close()                            # stopped and removed

A binary that is missing fails the test with a message saying what to install (scripts/test.sh
installs both), never a skip: a fault test that silently does not run proves nothing.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.processes import free_port

START_SECONDS = 30.0  # a busy 2-core machine; both start in well under a second when idle
STOP_SECONDS = 30.0


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _temporary_directory(prefix: str) -> Path:
    # /tmp, not pytest's tmp_path: when we are root, the postgres user must be able to enter it.
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


class RedisServer:
    """`redis-server --save "" --appendonly no` on a free port: whatever it held is gone once it stops."""

    def __init__(self, binary: str, directory: Path, port: int):
        self.binary, self.directory, self.port = binary, directory, port
        self.log = directory / "redis.log"
        self._process: subprocess.Popen | None = None
        self.paused = False

    @classmethod
    def launch(cls) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not on PATH: the fault tests run their own Redis. "
                        "Install it with 'apt-get install redis-server' (bash scripts/test.sh does).", pytrace=False)
        server = cls(binary, _temporary_directory("faults-redis-"), free_port())
        server.start()
        return server

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start it on its port and wait until it answers PING."""
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(self.directory)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_SECONDS
        while not self._answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self._reap()
                pytest.fail(f"redis-server did not start on 127.0.0.1:{self.port}:\n{_tail(self.log)}", pytrace=False)
            time.sleep(0.02)

    def stop(self) -> None:
        """SIGTERM (without persistence it saves nothing) and wait for the process to end."""
        if self.paused:
            self.resume()
        if self.running:
            self._process.terminate()
        self._reap()

    def pause(self) -> None:
        """Hang it: connections are accepted by the kernel, nothing is answered."""
        os.kill(self._process.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        os.kill(self._process.pid, signal.SIGCONT)
        self.paused = False

    def ensure_running(self) -> None:
        if self.paused:
            self.resume()
        if not self.running:
            self._reap()
            self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _reap(self) -> None:
        if self._process is not None:
            try:
                self._process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False


def postgres_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/*/bin (Debian's layout), else where PATH has pg_ctl
    (as scripts/test.sh looks for them)."""
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/postgres")]
    if found:
        return max(found, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


class PostgresServer:
    """A PostgreSQL cluster of its own (trust, no fsync) on a free port, started with pg_ctl.

    PostgreSQL refuses to run as root: then every server binary runs as the `postgres` system
    user through runuser, from inside the cluster's directory, which that user owns."""

    def __init__(self, bindir: Path, directory: Path, port: int):
        self.bindir, self.directory, self.port = bindir, directory, port
        self.data, self.log = directory / "data", directory / "server.log"
        self.running = False

    @classmethod
    def launch(cls) -> PostgresServer:
        bindir = postgres_bindir()
        if bindir is None:
            pytest.fail("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin: the fault tests run their own "
                        "PostgreSQL. Install them with 'apt-get install postgresql' (bash scripts/test.sh does).",
                        pytrace=False)
        directory = _temporary_directory("faults-pg-")
        if os.geteuid() == 0:
            try:
                shutil.chown(directory, "postgres", "postgres")
            except LookupError:
                pytest.fail("running as root, the throwaway PostgreSQL needs the 'postgres' system user "
                            "(initdb refuses root); 'apt-get install postgresql' creates it.", pytrace=False)
        server = cls(bindir, directory, free_port())
        server._run("initdb", "-D", str(server.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                    "--locale=C.UTF-8", "--no-sync", what="initdb")
        server.start()
        return server

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """Start it on its port; back when pg_ctl returns (it waits until connections are accepted)."""
        options = (f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", str(int(START_SECONDS)),
                  "-o", options, "start", what="pg_ctl start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """Shut down; `fast` ends every session and rolls back its open transaction."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", str(int(STOP_SECONDS)), "stop",
                  what="pg_ctl stop")
        self.running = False

    def ensure_running(self) -> None:
        if not self.running:
            self.start()

    def create_database(self, name: str) -> str:
        """A new database (createdb connects as a client, so root may run it); its URL."""
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name, what="createdb",
                  as_postgres=False)
        return self.url(name)

    def close(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", what="pg_ctl stop", check=False)
        self.running = False
        shutil.rmtree(self.directory, ignore_errors=True)

    def _run(self, binary: str, *args: str, what: str, as_postgres: bool = True, check: bool = True) -> None:
        command = [str(self.bindir / binary), *args]
        if as_postgres and os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, cwd=self.directory, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=START_SECONDS + STOP_SECONDS)
        if check and done.returncode != 0:
            pytest.fail(f"{what} of the throwaway PostgreSQL failed ({done.returncode}):\n{done.stdout}{done.stderr}"
                        f"\n{_tail(self.log)}", pytrace=False)
