"""政务掌上办 backend: `create_app(settings)` builds the service, `main()` runs it.

    python server.py                      serve (embedded default: SQLite file, in-process state)
    python server.py worker [--port P]    the background work alone (with P: probes and metrics only); stops on SIGTERM/SIGINT
    python server.py migrate              apply database migrations and exit
    python server.py retention            delete now the old rows the retention rules allow (core/retention.py)
    python server.py calendar check FILE  validate a calendar override file, show what it changes
    python server.py calendar load FILE   validate and install it; running services pick it up
    python server.py calendar show YEAR   list a year's holidays and make-up working days
    python server.py kb check             validate the knowledge-base data files
    python server.py kb import FILE       import an external catalogue of service items (JSON lines)
    python server.py kb eval              search accuracy on the labelled queries in tests/data
    python server.py nlu eval             intent accuracy, confusion matrix and worst misses
    python server.py hotline eval         5-fold cross-validated accuracy of the category suggestion
    python server.py chat                 talk to a running service's bot as a WeChat user would
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from collections.abc import AsyncIterator

import uvloop
from aiohttp import web

import bot
import hotline
import intents
import knowledge_base
import miniapp_api
import personal_space
from core import health, keys, metrics, openapi
from core.calendar_service import calendar_context
from core.clock import Clock
from core.datafile import DataFileError
from core.db import database_context
from core.integration import integration_middleware
from core.logs import configure_logging
from core.migrate import migrate
from core.outbox import outbox_worker_context
from core.retention import retention_context
from core.settings import Settings, SettingsError, load_settings
from core.state import create_state_store
from core.web import error_middleware, request_id_middleware
from core.wechat import wechat_context

log = logging.getLogger("server")


class StartupError(Exception):
    """The service cannot start; the message is one line for the operator."""


async def _migrate_or_explain(engine, settings: Settings) -> None:
    try:
        await migrate(engine)
    except Exception as exc:  # noqa: BLE001 - any failure here is reported as one line
        where = settings.database.render_as_string(hide_password=True)
        raise StartupError(f"无法迁移数据库 {where}：{exc}") from exc


async def _migrate_context(app: web.Application) -> AsyncIterator[None]:
    if app[keys.SETTINGS].migrate_on_start:
        await _migrate_or_explain(app[keys.ENGINE], app[keys.SETTINGS])
    yield


async def _state_context(app: web.Application) -> AsyncIterator[None]:
    app[keys.STATE] = create_state_store(app[keys.SETTINGS].redis_url)
    yield
    await app[keys.STATE].close()


def _process_app(settings: Settings, clock: Clock | None, *middlewares) -> web.Application:
    """What every process has, serving or working: its settings and clock, the database, the state
    store, the working-day calendar (and the hooks that move stored deadlines with it), the WeChat
    client, /healthz, /readyz and /metrics."""
    app = web.Application(middlewares=[request_id_middleware, error_middleware, *middlewares],
                          client_max_size=settings.max_body_bytes)
    app[keys.SETTINGS] = settings
    app[keys.CLOCK] = clock or Clock()
    app[keys.CALENDAR_HOOKS] = []
    app.cleanup_ctx.extend([database_context, _migrate_context, _state_context, calendar_context, wechat_context])
    hotline.setup_calendar_hook(app)
    personal_space.setup_calendar_hook(app)
    health.setup(app)
    metrics.setup(app)
    return app


def _add_workers(app: web.Application) -> None:
    """The background work: outbox delivery, reminder planning, ticket escalation, bad-rating
    follow-up, retention; and the database gauges that show whether it keeps up. Last, so that on the way
    out the jobs stop before anything they use is closed."""
    metrics.export_database_gauges(app)
    app.cleanup_ctx.append(outbox_worker_context)
    personal_space.setup_workers(app)
    hotline.setup_workers(app)
    app.cleanup_ctx.append(retention_context)


def create_app(settings: Settings, *, clock: Clock | None = None) -> web.Application:
    """The service: its HTTP API, and with RUN_WORKERS (the embedded default) the background work
    in the same process. Nothing does I/O until the app starts (cleanup contexts)."""
    app = _process_app(settings, clock, integration_middleware)
    knowledge_base.setup(app)
    intents.setup(app)
    personal_space.setup(app)
    hotline.setup(app)
    bot.setup(app)
    miniapp_api.setup(app)
    openapi.setup(app)
    if settings.run_workers:
        _add_workers(app)
    return app


def create_worker_app(settings: Settings, *, clock: Clock | None = None) -> web.Application:
    """The background work alone, whatever RUN_WORKERS says, with the probes and metrics. None of
    the API: no job reads the knowledge base, the intent model or the category suggester, which
    take most of a web process's start-up time and memory."""
    app = _process_app(settings, clock)
    _add_workers(app)
    return app


def long_lived(app: web.Application) -> web.Application:
    """The app as the one a process serves for its life: once started, what startup built
    (knowledge base, models, dictionaries: millions of objects) leaves the garbage collector's
    sight, so full collections stop pausing requests for 100 ms and more. Process-wide, so not
    for apps made and dropped one after another (tests)."""
    app.on_startup.append(_freeze_startup_objects)  # after every cleanup context has started
    return app


async def _freeze_startup_objects(_app: web.Application) -> None:
    gc.collect()
    gc.freeze()


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The loop a serving or working process runs on: uvloop (libuv). A WeChat message is mostly
    socket round trips (the request, Redis, PostgreSQL), and each costs about half the CPU on it
    that it does on asyncio's own loop."""
    return uvloop.new_event_loop()


def _serve(settings: Settings) -> int:
    app = long_lived(create_app(settings))
    mode = "embedded (SQLite, in-process state)" if settings.embedded else "production"
    log.info("starting", extra={"url": f"http://{settings.host}:{settings.port}/", "mode": mode,
                                "state_store": "redis" if settings.redis_url else "in-process"})
    try:
        web.run_app(app, host=settings.host, port=settings.port, access_log=None, print=None, loop=new_event_loop())
    except StartupError as exc:
        print(exc, file=sys.stderr)
        return 1
    except OSError as exc:  # binding the port is the only network step run_app does itself
        return _port_taken(settings.port, exc, "PORT")
    return 0


def _port_taken(port: int, exc: OSError, setting: str) -> int:
    print(f"无法在端口 {port} 上启动：{exc.strerror or exc}（可用 {setting} 换一个端口）", file=sys.stderr)
    return 1


def _work(settings: Settings, port: int | None) -> int:
    """The background work alone (`create_worker_app`): web processes run with RUN_WORKERS off,
    workers with this. With `port`, /healthz, /readyz and /metrics (the database gauges, its
    WeChat errors, its process) answer there."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(_run_workers(long_lived(create_worker_app(settings)), port))


async def _run_workers(app: web.Application, port: int | None) -> int:
    """Start the app (listening only for probes, when given a port), run until SIGTERM or SIGINT,
    then shut it down."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runner = web.AppRunner(app)
    try:
        await runner.setup()  # every cleanup context and startup hook, the workers among them
        if port is not None:
            try:
                await web.TCPSite(runner, app[keys.SETTINGS].host, port).start()
            except OSError as exc:
                return _port_taken(port, exc, "--port")
        log.info("worker started", extra={"probe_port": port})
        await stop.wait()
        for signum in (signal.SIGTERM, signal.SIGINT):  # a second signal ends the process at once
            loop.remove_signal_handler(signum)
        log.info("worker stopping")
    finally:
        # The outbox finishes the group on the wire and hands the rest of its batch back (up to
        # STOP_GRACE); the other jobs are single transactions, cancelled and rolled back.
        await runner.cleanup()
    log.info("worker stopped")
    return 0


async def _migrate(settings: Settings) -> None:
    from core.db import create_engine

    engine = create_engine(settings)
    try:
        await _migrate_or_explain(engine, settings)
    finally:
        await engine.dispose()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="server.py", description="政务掌上办 backend")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="run the service (the default)")
    commands.add_parser("worker", help="run the background work until SIGTERM or SIGINT, without the HTTP API"
                        ).add_argument("--port", type=int, help="answer /healthz, /readyz and /metrics on this port")
    commands.add_parser("migrate", help="apply database migrations")
    commands.add_parser("retention", help="delete now what the retention rules allow (the workers do it hourly)")
    cal = commands.add_parser("calendar", help="the working-day calendar").add_subparsers(dest="action", required=True)
    cal.add_parser("check", help="validate an override file and show what it changes").add_argument("file")
    cal.add_parser("load", help="validate and install an override file").add_argument("file")
    cal.add_parser("show", help="a year's days off and make-up working days").add_argument("year", type=int)
    kb = commands.add_parser("kb", help="the knowledge base").add_subparsers(dest="action", required=True)
    kb.add_parser("check", help="validate the data files")
    kb.add_parser("import", help="import an external catalogue of service items").add_argument("file")
    kb.add_parser("eval", help="search accuracy on labelled queries").add_argument("files", nargs="*")
    nlu = commands.add_parser("nlu", help="understanding (intents)").add_subparsers(dest="action", required=True)
    nlu.add_parser("eval", help="intent accuracy on labelled utterances").add_argument("files", nargs="*")
    commands.add_parser("chat", help="chat with a running service's bot through its /wechat webhook (--url, --openid)",
                        add_help=False)
    hl = commands.add_parser("hotline", help="the 12345 hotline").add_subparsers(dest="action", required=True)
    hl.add_parser("eval", help="category suggestion: 5-fold cross-validated accuracy")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    if rest and args.command != "chat":  # only the chat has options of its own
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        settings = load_settings()
    except SettingsError as exc:
        print("\n".join(exc.lines), file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    try:
        if args.command == "migrate":
            asyncio.run(_migrate(settings))
            print("数据库已迁移到最新版本")
            return 0
        if args.command == "retention":
            from core import retention

            return asyncio.run(retention.main(settings))
        if args.command == "calendar":
            from core import calendar_cli

            return calendar_cli.run(settings, args.action, getattr(args, "file", None), getattr(args, "year", None))
        if args.command == "kb" and args.action == "import":
            from knowledge_base import importer

            return asyncio.run(importer.main(settings, args.file))
        if args.command == "kb" and args.action == "eval":
            from pathlib import Path

            from knowledge_base import evaluate

            return asyncio.run(evaluate.main(settings, [Path(f) for f in args.files]))
        if args.command == "nlu":
            from pathlib import Path

            from intents import evaluate as nlu_evaluate

            return asyncio.run(nlu_evaluate.main(settings, [Path(f) for f in args.files]))
        if args.command == "chat":
            from bot import chat

            return chat.main(settings, rest)
        if args.command == "hotline":
            from hotline import suggest_eval

            return suggest_eval.main(settings.hotline_datasets_dir)
        if args.command == "kb":
            from knowledge_base import catalogue

            return catalogue.main()
        if args.command == "worker":
            return _work(settings, args.port)
        return _serve(settings)
    except DataFileError as exc:
        print(f"数据文件有误 {exc.path}：" + "；".join(exc.problems), file=sys.stderr)
        return 2
    except StartupError as exc:
        print(exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
