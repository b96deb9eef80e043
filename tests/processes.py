"""The service as separate processes, for the tests and the benchmarks: `python server.py` (or
`server.py worker`) started with settings in its environment, on a free port, waited for until it
is ready, always stopped.

    async with ServiceProcesses(log_dir) as group:
        server = await group.start_server("a", {"DATABASE_URL": ..., "RUN_WORKERS": "false"})
        worker = await group.start_worker("w1", {...})
        await group.ready(server, worker)
        ... server.url ...
    # every child is stopped here, even when the block failed

Each child's JSON log lines go to a file (`process.log()` reads them back), shown in the error
when a child does not come up. `run_server` runs one command of server.py to its end instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from core.settings import REPO_ROOT, Settings

START_TIMEOUT = 60.0  # a server loads the knowledge base and models first: seconds, more on a busy machine
STOP_TIMEOUT = 15.0


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on (bound, then released): for a child to listen
    on, or for a client to find closed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _environment(settings: dict[str, str]) -> dict[str, str]:
    """This process's environment without any service setting of its own, plus `settings`."""
    inherited = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    return inherited | settings


def run_server(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """`python server.py ARGS` run to its end in `cwd` (where a `.env` would be read), with `env`
    as its only service settings; its output as text."""
    return subprocess.run([sys.executable, str(REPO_ROOT / "server.py"), *args], env=_environment(env), cwd=cwd,
                          capture_output=True, text=True, timeout=60)


class ServiceProcess:
    """One child: `python server.py [ARGS]`, its port (servers) and its log file."""

    def __init__(self, name: str, process: asyncio.subprocess.Process, log_path: Path, port: int | None):
        self.name, self.process, self.log_path, self.port = name, process, log_path, port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> list[dict]:
        """Its JSON log lines so far (anything else it printed is left out)."""
        entries = []
        for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    entries.append(json.loads(line))
                except ValueError:
                    pass  # a line cut off while being written
        return entries

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])

    async def wait_ready(self, http: aiohttp.ClientSession, timeout: float = START_TIMEOUT) -> None:
        """Until /readyz answers 200 (a server) or the log says "worker started" (a worker)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.returncode is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")
            if self.port is None:
                if any(e.get("msg") == "worker started" for e in self.log()):
                    return
            else:
                try:
                    async with http.get(f"{self.url}/readyz") as response:
                        if response.status == 200:
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass  # not listening yet
            await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.name} was not ready within {timeout:.0f} s:\n{self.tail()}")

    async def stop(self, signum: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
        """Signal it and wait for it to exit; killed when it has not by `timeout`. Its exit code."""
        if self.process.returncode is None:
            self.process.send_signal(signum)
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        return self.process.returncode


class ServiceProcesses:
    """Starts children and stops every one of them when the block ends, however it ends."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.children: list[ServiceProcess] = []
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ServiceProcesses:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        return self

    async def __aexit__(self, *exc_info) -> None:
        try:
            await asyncio.gather(*(child.stop() for child in self.children))
        finally:
            for child in self.children:  # whatever happened above, nothing outlives the block
                if child.process.returncode is None:
                    child.process.kill()
                    await child.process.wait()
            await self._http.close()

    async def start_server(self, name: str, settings: dict[str, str]) -> ServiceProcess:
        """`python server.py` on a free port of 127.0.0.1 (not waited for: see `ready`)."""
        port = free_port()
        return await self._start(name, settings | {"HOST": "127.0.0.1", "PORT": str(port)}, port)

    async def start_worker(self, name: str, settings: dict[str, str], probes: bool = False) -> ServiceProcess:
        """`python server.py worker`, with `probes` listening for them on a free port of 127.0.0.1
        (not waited for: see `ready`)."""
        if not probes:
            return await self._start(name, settings, None, "worker")
        port = free_port()
        return await self._start(name, settings | {"HOST": "127.0.0.1"}, port, "worker", "--port", str(port))

    async def ready(self, *children: ServiceProcess, timeout: float = START_TIMEOUT) -> None:
        """Wait until all of them are ready; they start in parallel."""
        await asyncio.gather(*(child.wait_ready(self._http, timeout) for child in children))

    async def _start(self, name: str, settings: dict[str, str], port: int | None, *args: str) -> ServiceProcess:
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("wb") as log_file:  # the child writes to its own copy of the descriptor
            # Run from the log folder: a developer's `.env` beside server.py must not reach the children.
            process = await asyncio.create_subprocess_exec(sys.executable, str(REPO_ROOT / "server.py"), *args,
                                                           cwd=self.log_dir, env=_environment(settings),
                                                           stdin=asyncio.subprocess.DEVNULL, stdout=log_file,
                                                           stderr=asyncio.subprocess.STDOUT)
        child = ServiceProcess(name, process, log_path, port)
        self.children.append(child)
        return child
