"""Prometheus metrics at `GET /metrics` (运行指标), one registry per app, one page per process.

Counted as things happen: HTTP requests by method, route *template* and status, with their
latency; WeChat API calls that failed, by API, errcode and whether a retry can help.
Read from the database when scraped, bounded by `SCRAPE_TIMEOUT`, and only by a process that runs
the background work (a worker, or the service with RUN_WORKERS on): the outbox backlog and failures
by channel, and the open 12345 tickets that are overdue or carry a yellow or red card. Those are
what the workers work off, and a web process with RUN_WORKERS=false would only repeat the same
queries on every scrape. A database that does not answer leaves those gauges out and sets
`zsb_database_scrape_success` to 0; the page itself still answers 200. Process, garbage-collector
and Python metrics come from prometheus-client.

Every process keeps its own counters, so Prometheus scrapes every instance (and sums them).
Who may read the page: with `METRICS_TOKEN` set, a caller presenting it as a bearer token; without
it, anyone in the embedded mode, and in production only a direct caller on this host (loopback,
and no `Forwarded`/`X-Forwarded-For` header, so a request relayed by the reverse proxy is refused).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from core import keys
from core.clock import SHANGHAI
from core.errors import AppError, Unauthorized

if TYPE_CHECKING:
    from core.wechat import WeChatError

log = logging.getLogger("metrics")

SCRAPE_TIMEOUT = 2.0  # seconds for the database gauges; Prometheus' own scrape timeout is 10 s by default
# Seconds. Most answers take milliseconds; the WeChat webhook must answer within 5 s and holds its
# dialogue to a 4 s budget, so the buckets are fine around that edge.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 4.5, 5.0, 10.0)
UNMATCHED = "unmatched"  # the route label of a request no route matched: its raw path is never a label
# A method label from any other token a client sends would let it create series at will.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    """This app's registry and the metrics in it; `database` once the app exports those gauges."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.requests = Counter("zsb_http_requests", "HTTP requests answered, by route template and status",
                                ("method", "route", "status"), registry=registry)
        self.latency = Histogram("zsb_http_request_duration_seconds", "Time to answer an HTTP request",
                                 ("method", "route"), buckets=LATENCY_BUCKETS, registry=registry)
        self.wechat_errors = Counter(
            "zsb_wechat_api_errors", "WeChat API calls that failed; errcode -1 is a timeout, connection or HTTP error",
            ("api", "errcode", "kind"), registry=registry)
        self.database: _DatabaseGauges | None = None
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        # (method, route, status) -> its counter and histogram children: one dict lookup per request
        # instead of prometheus-client's label validation and lock.
        self._children: dict[tuple[str, str, int], tuple] = {}

    def observe_request(self, request: web.Request, status: int, seconds: float) -> None:
        resource = request.match_info.route.resource
        route = UNMATCHED if resource is None else resource.canonical
        method = request.method if request.method in _METHODS else "OTHER"
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (self.requests.labels(method, route, str(status)),
                                              self.latency.labels(method, route))
        children[0].inc()
        children[1].observe(seconds)

    def count_wechat_error(self, api: str, error: WeChatError) -> None:
        self.wechat_errors.labels(api, str(error.code), "permanent" if error.permanent else "temporary").inc()


class _DatabaseGauges(Collector):
    """The gauges read from the database by the current scrape; none when it could not read them."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.read: _DatabaseRead | None = None
        registry.register(self)
        self.success = Gauge("zsb_database_scrape_success",
                             "1 when this scrape read the database gauges, 0 when the database did not answer",
                             registry=registry)
        self.seconds = Gauge("zsb_database_scrape_duration_seconds", "Time spent reading the database gauges",
                             registry=registry)

    async def scrape(self, app: web.Application) -> None:
        """Read the gauges, or record that they could not be read: they are then left out, since a
        stale or zero value would read as current."""
        started = time.perf_counter()
        try:
            self.read = await asyncio.wait_for(_read_database(app), SCRAPE_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - any failure means "not read"; the page still answers
            log.warning("metrics: database gauges not read", extra={"reason": type(exc).__name__})
            self.read = None
        self.success.set(0 if self.read is None else 1)
        self.seconds.set(time.perf_counter() - started)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        read = self.read
        if read is None:
            return
        messages = GaugeMetricFamily("zsb_outbox_messages", "Outbox messages not delivered, by channel and state",
                                     labels=("channel", "state"))
        for (channel, state), count in read.outbox.items():
            messages.add_metric((channel, state), count)
        oldest = GaugeMetricFamily("zsb_outbox_oldest_due_seconds",
                                   "How long the longest-waiting due message (new, or a retry) has waited",
                                   labels=("channel",))
        for channel, seconds in read.oldest_due.items():
            oldest.add_metric((channel,), seconds)
        cards = GaugeMetricFamily("zsb_hotline_carded_tickets", "Open 12345 tickets carrying a yellow or red card",
                                  labels=("card",))
        for card, count in read.cards.items():
            cards.add_metric((card,), count)
        yield messages
        yield oldest
        yield GaugeMetricFamily("zsb_hotline_overdue_tickets", "Open 12345 tickets past their deadline",
                                value=read.overdue)
        yield cards


@dataclass(frozen=True)
class _DatabaseRead:
    outbox: dict[tuple[str, str], int]  # (channel, state) -> messages, every state but delivered
    oldest_due: dict[str, float]  # channel -> seconds the oldest due message has waited
    overdue: int
    cards: dict[str, int]  # yellow, red -> open tickets


METRICS = web.AppKey("metrics", Metrics)


async def _read_database(app: web.Application) -> _DatabaseRead:
    # Imported here: core.outbox imports core.wechat, which imports this module, and core names
    # feature packages' tables only at run time (as core.db does).
    from core import outbox
    from hotline.models import Ticket
    from hotline.rules import yellow_until

    now = app[keys.CLOCK].now()
    waiting = (outbox.CREATED, outbox.TEMPORARY)
    unfinished = (*waiting, outbox.SENDING, outbox.PERMANENT, outbox.TECHNICAL)
    # Every card stands on an open ticket due by the next working day or already overdue (the
    # escalation scan raises a yellow card only then, and a later deadline lowers it), so both
    # counts read one range of the (pending, due_at) index instead of every open ticket.
    last_yellow = yellow_until(app[keys.CALENDAR].current, now.date())
    horizon = datetime.combine(last_yellow + timedelta(days=1), datetime.min.time(), tzinfo=SHANGHAI)
    async with app[keys.ENGINE].connect() as connection:
        outbox_rows = await connection.execute(
            select(outbox.OutboxMessage.channel, outbox.OutboxMessage.state, func.count(),
                   func.min(outbox.OutboxMessage.next_attempt_at))
            .where(outbox.OutboxMessage.state.in_(unfinished))  # by the state index: delivered rows are never read
            .group_by(outbox.OutboxMessage.channel, outbox.OutboxMessage.state))
        ticket_row = (await connection.execute(
            select(func.count().filter(Ticket.due_at < now),
                   func.count().filter(Ticket.card == "yellow"), func.count().filter(Ticket.card == "red"))
            .where(Ticket.pending.is_(True), Ticket.due_at < horizon))).one()
    channels = outbox.senders(app)  # every channel appears, with zeros: a series that vanishes breaks rate alerts
    counts = {(channel, state): 0 for channel in channels for state in unfinished}
    oldest_due = {channel: 0.0 for channel in channels}
    for channel, state, count, first_attempt in outbox_rows:
        counts[(channel, state)] = count
        if state in waiting:  # a retry waiting out its backoff is not due yet: it counts from then
            oldest_due[channel] = max(oldest_due.get(channel, 0.0), (now - first_attempt).total_seconds())
    overdue, yellow, red = ticket_row
    return _DatabaseRead(outbox=counts, oldest_due=oldest_due, overdue=overdue, cards={"yellow": yellow, "red": red})


def _is_direct_local_call(request: web.Request) -> bool:
    if "Forwarded" in request.headers or "X-Forwarded-For" in request.headers:
        return False  # relayed by a proxy, whose own address says nothing about the caller
    if request.remote is None:
        return True  # a Unix socket: only processes on this host reach it
    try:
        return ipaddress.ip_address(request.remote).is_loopback
    except ValueError:
        return False


def _authorize(request: web.Request) -> None:
    settings = request.app[keys.SETTINGS]
    if settings.metrics_token is not None:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented.encode(), settings.metrics_token.encode()):
            raise Unauthorized("读取运行指标需要有效的 METRICS_TOKEN", code="metrics_unauthorized")
    elif not settings.embedded and not _is_direct_local_call(request):
        raise AppError("运行指标只对本机开放；跨主机抓取请设置 METRICS_TOKEN", code="metrics_forbidden", status=403)


async def metrics_page(request: web.Request) -> web.Response:
    """The exposition text of this process (Prometheus text format)."""
    _authorize(request)
    metrics = request.app[METRICS]
    if metrics.database is not None:
        await metrics.database.scrape(request.app)
    return web.Response(body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


def observe_request(request: web.Request, status: int, seconds: float) -> None:
    """Count one answered request (called by core.web's request middleware)."""
    request.app[METRICS].observe_request(request, status, seconds)


def wechat_error_counter(app: web.Application) -> Callable[[str, WeChatError], None] | None:
    """What core.wechat calls with each failed call, or None when the app has no metrics."""
    metrics = app.get(METRICS)
    return None if metrics is None else metrics.count_wechat_error


def setup(app: web.Application) -> None:
    app[METRICS] = Metrics()
    app.router.add_get("/metrics", metrics_page, allow_head=False)


def export_database_gauges(app: web.Application) -> None:
    """For a process that runs the background work (add after `setup`): its /metrics also reads
    the backlog the workers work off from the database."""
    metrics = app[METRICS]
    metrics.database = _DatabaseGauges(metrics.registry)
