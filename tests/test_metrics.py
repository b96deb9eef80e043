"""GET /metrics: requests by route template, the outbox backlog, overdue and carded tickets, WeChat
errors, access control, and a page that still answers when the database does not. Only a process
that runs the background work (a worker, or the service with RUN_WORKERS on) reads the database
gauges; a web process with RUN_WORKERS off exports its requests, WeChat errors and process only.
Every scrape is parsed with prometheus-client's own parser."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from core import outbox
from core.db import transaction
from core.metrics import export_database_gauges
from core.outbox import Draft, enqueue
from core.settings import SettingsError, load_settings
from hotline.escalation import run_scan
from server import create_app, create_worker_app
from tests.hotline_helpers import at, desk, hotline_client  # noqa: F401 - fixtures
from tests.processes import free_port
from tests.row_counts import statements

TOKEN = "metrics-token-0123456789"
CHANNELS = ("console", "wechat_subscribe", "wechat_custom")
STATES = ("created", "temporary-failure", "sending", "permanent-failure", "technical-failure")
REQUEST_FAMILIES = {"zsb_http_requests", "zsb_http_request_duration_seconds", "zsb_wechat_api_errors"}
DATABASE_FAMILIES = {"zsb_outbox_messages", "zsb_outbox_oldest_due_seconds", "zsb_hotline_overdue_tickets",
                     "zsb_hotline_carded_tickets", "zsb_database_scrape_success",
                     "zsb_database_scrape_duration_seconds"}

Samples = dict[tuple[str, frozenset], float]


async def scrape(client, **headers: str) -> Samples:
    return samples_of(await page(client, **headers))


async def page(client, **headers: str) -> str:
    response = await client.get("/metrics", headers=headers)
    assert response.status == 200, await response.text()
    assert response.content_type == "text/plain"
    return await response.text()


def samples_of(text: str) -> Samples:
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def our_families(text: str) -> set[str]:
    """The service's own metric families on the page: not prometheus-client's process ones, nor
    the `_created` timestamps it writes beside each counter and histogram child."""
    return {family.name for family in text_string_to_metric_families(text)
            if family.name.startswith("zsb_") and not family.name.endswith("_created")}


def empty_database_gauges() -> dict[tuple[str, frozenset], float]:
    """What an empty database reads as, every channel and state included."""
    gauges = {("zsb_outbox_messages", frozenset({"channel": c, "state": s}.items())): 0
              for c in CHANNELS for s in STATES}
    gauges |= {("zsb_outbox_oldest_due_seconds", frozenset({"channel": c}.items())): 0 for c in CHANNELS}
    gauges |= {("zsb_hotline_carded_tickets", frozenset({"card": card}.items())): 0 for card in ("yellow", "red")}
    return gauges | {("zsb_hotline_overdue_tickets", frozenset()): 0, ("zsb_database_scrape_success", frozenset()): 1}


def database_gauges(samples: Samples) -> dict[tuple[str, frozenset], float]:
    """The database gauges on the page, without the scrape's duration (it varies)."""
    return {key: v for key, v in samples.items()
            if key[0] in DATABASE_FAMILIES and key[0] != "zsb_database_scrape_duration_seconds"}


@pytest.fixture
def worker_client(hotline_client):
    """The service exporting what a process that runs the background work does (the database
    gauges), the test running each round itself (`outbox.run_once`, `run_scan`) at the moments it
    picks instead of timers, so that every value is known."""
    export_database_gauges(hotline_client.server.app)
    return hotline_client


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def series(samples: Samples, name: str) -> dict[frozenset, float]:
    return {labels: v for (sample, labels), v in samples.items() if sample == name}


def label_values(samples: Samples) -> set[str]:
    return {v for _, labels in samples for _, v in labels}


def outbox_gauges(samples: Samples) -> dict[tuple[str, str], float]:
    return {(dict(labels)["channel"], dict(labels)["state"]): v
            for labels, v in series(samples, "zsb_outbox_messages").items()}


async def test_requests_are_counted_by_method_route_template_and_status(client):
    for _ in range(2):
        assert (await client.get("/healthz")).status == 200
    assert (await client.get("/api/v1/items/NO-SUCH-ITEM-7")).status == 404
    bad_date = {"from": "not-a-date", "working_days": "5"}
    assert (await client.get("/api/v1/calendar/deadline", params=bad_date)).status == 400
    assert (await client.get("/no/such/page-4711")).status == 404
    assert (await client.request("PROPFIND", "/healthz")).status == 405
    await scrape(client)
    samples = await scrape(client)

    requests = "zsb_http_requests_total"
    assert value(samples, requests, method="GET", route="/healthz", status="200") == 2
    assert value(samples, requests, method="GET", route="/api/v1/items/{code}", status="404") == 1
    assert value(samples, requests, method="GET", route="/api/v1/calendar/deadline", status="400") == 1
    assert value(samples, requests, method="GET", route="unmatched", status="404") == 1
    assert value(samples, requests, method="OTHER", route="unmatched", status="405") == 1
    assert value(samples, requests, method="GET", route="/metrics", status="200") == 1  # the first scrape
    assert sum(series(samples, requests).values()) == 7
    assert value(samples, "zsb_http_request_duration_seconds_count", method="GET", route="/healthz") == 2
    assert value(samples, "zsb_http_request_duration_seconds_bucket", method="GET", route="/healthz", le="+Inf") == 2
    assert value(samples, "zsb_http_request_duration_seconds_bucket", method="GET", route="/healthz", le="5.0") == 2
    seen = label_values(samples)
    assert not any("NO-SUCH-ITEM" in v or "4711" in v or "PROPFIND" in v for v in seen)
    assert value(samples, "process_cpu_seconds_total") > 0
    assert value(samples, "process_resident_memory_bytes") > 0


async def test_a_web_process_without_the_workers_exports_no_database_gauges(client):
    """RUN_WORKERS off: its requests, WeChat errors and process only, and no query at any scrape."""
    await scrape(client)
    with statements(client.server.app) as run:
        text = await page(client)
    assert run == []
    assert our_families(text) == REQUEST_FAMILIES
    assert sum(series(samples_of(text), "zsb_http_requests_total").values()) == 1  # the first scrape


async def test_a_worker_process_exports_the_database_gauges_and_answers_nothing_of_the_api(
        aiohttp_client, make_settings):
    client = await aiohttp_client(create_worker_app(make_settings()))
    assert (await client.get("/readyz")).status == 200
    api = await client.get("/api/v1/guides", params={"q": "居住证"})
    assert api.status == 404 and (await api.json())["error"]["code"] == "not_found"
    text = await page(client)
    samples = samples_of(text)
    assert our_families(text) == REQUEST_FAMILIES | DATABASE_FAMILIES
    assert database_gauges(samples) == empty_database_gauges()
    assert series(samples, "zsb_http_requests_total") == {
        frozenset({"method": "GET", "route": "/readyz", "status": "200"}.items()): 1,
        frozenset({"method": "GET", "route": "unmatched", "status": "404"}.items()): 1}


async def test_outbox_backlog_failures_and_wechat_errors_are_exported(worker_client, fake_wechat, clock):
    app = worker_client.server.app

    def draft(i: int, channel: str) -> Draft:
        return Draft(key=f"metrics-test:{i}", channel=channel, address=f"openid-{i}", recipient=f"openid-{i}",
                     kind="handoff_reply", data={"text": f"您好 {i}"})

    async with transaction(app) as session:
        await enqueue(session, [draft(i, "wechat_custom") for i in range(4)], clock.now())
    fake_wechat.fail_next("/cgi-bin/message/custom/send", errcode=45015)  # window closed: permanent
    fake_wechat.fail_next("/cgi-bin/message/custom/send", errcode=-1)  # system busy: retried in 30 s
    assert await outbox.run_once(app) == 4
    clock.advance(timedelta(seconds=90))
    async with transaction(app) as session:
        await enqueue(session, [draft(i, "console") for i in (10, 11, 12)], clock.now())
    clock.advance(timedelta(seconds=45))

    samples = await scrape(worker_client)
    assert len(fake_wechat.custom_messages) == 2
    expected = {(c, s): 0 for c in CHANNELS for s in STATES}
    expected |= {("wechat_custom", "permanent-failure"): 1, ("wechat_custom", "temporary-failure"): 1,
                 ("console", "created"): 3}
    assert outbox_gauges(samples) == expected
    # Due since enqueued 45 s ago; the retry became due 30 s after its failure, 105 s ago.
    assert value(samples, "zsb_outbox_oldest_due_seconds", channel="console") == 45
    assert value(samples, "zsb_outbox_oldest_due_seconds", channel="wechat_custom") == 105
    assert value(samples, "zsb_outbox_oldest_due_seconds", channel="wechat_subscribe") == 0
    errors = series(samples, "zsb_wechat_api_errors_total")
    assert errors == {frozenset({"api": "send_text", "errcode": "45015", "kind": "permanent"}.items()): 1,
                      frozenset({"api": "send_text", "errcode": "-1", "kind": "temporary"}.items()): 1}
    assert not any("openid" in v for v in label_values(samples))


async def test_overdue_and_carded_tickets_are_counted_and_no_ticket_number_becomes_a_label(
        worker_client, desk, clock):
    app = worker_client.server.app
    numbers = []
    for day in ("2026-11-18", "2026-11-18", "2026-11-19", "2026-11-26"):  # due 11-25, 11-25, 11-26, 12-03
        clock.set(at(day))
        numbers.append((await desk.call())["number"])
    for number in numbers:
        await desk.ticket("agent01", number)
    assert (await worker_client.get(f"/api/v1/tickets/{numbers[0]}")).status == 401

    clock.set(at("2026-11-26", 11))
    samples = await scrape(worker_client)
    assert value(samples, "zsb_hotline_overdue_tickets") == 2
    # Cards are what the escalation scan raised: none yet, so a gap to overdue shows a stalled worker.
    assert value(samples, "zsb_hotline_carded_tickets", card="red") == 0
    assert value(samples, "zsb_hotline_carded_tickets", card="yellow") == 0

    await run_scan(app)
    samples = await scrape(worker_client)
    assert value(samples, "zsb_hotline_overdue_tickets") == 2
    assert value(samples, "zsb_hotline_carded_tickets", card="red") == 2
    assert value(samples, "zsb_hotline_carded_tickets", card="yellow") == 1  # due today, 11-26
    route = "/console/api/tickets/{number}"
    assert value(samples, "zsb_http_requests_total", method="GET", route=route, status="200") == 4
    assert value(samples, "zsb_http_requests_total", method="GET", route="/api/v1/tickets/{number}", status="401") == 1
    assert not any(number in v for number in numbers for v in label_values(samples))
    assert not any(v.startswith("GD") for v in label_values(samples))


async def test_metrics_are_for_this_host_only_in_production_without_a_token(client):
    await scrape(client)  # a direct caller on the loopback interface
    for relayed in ({"X-Forwarded-For": "203.0.113.7"}, {"Forwarded": "for=203.0.113.7"}):
        response = await client.get("/metrics", headers=relayed)
        assert response.status == 403
        assert (await response.json())["error"]["code"] == "metrics_forbidden"


async def test_with_a_metrics_token_only_a_caller_presenting_it_may_scrape(aiohttp_client, make_settings, clock):
    client = await aiohttp_client(create_app(make_settings(metrics_token=TOKEN), clock=clock))
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": TOKEN},
                    {"Authorization": f"Basic {TOKEN}"}):
        response = await client.get("/metrics", headers=headers)
        assert response.status == 401, headers
        body = await response.json()
        assert body["error"]["code"] == "metrics_unauthorized" and "METRICS_TOKEN" in body["error"]["message"]
        assert "zsb_" not in await response.text()
    samples = await scrape(client, Authorization=f"Bearer {TOKEN}", **{"X-Forwarded-For": "198.51.100.2"})
    assert value(samples, "zsb_http_requests_total", method="GET", route="/metrics", status="401") == 4


async def test_the_embedded_mode_serves_metrics_to_anyone_and_reads_sqlite(aiohttp_client, make_settings, tmp_path):
    """The embedded default: one process, the workers in it (RUN_WORKERS on), so the gauges too."""
    settings = make_settings(database_url=f"sqlite:///{tmp_path}/data/app.db", redis_url=None, migrate_on_start=None,
                             run_workers=True)
    client = await aiohttp_client(create_app(settings))
    samples = await scrape(client, **{"X-Forwarded-For": "203.0.113.7"})
    assert database_gauges(samples) == empty_database_gauges()


@pytest.mark.parametrize("token", ["too-short", "has spaces in the middle of it"])
def test_a_short_or_spaced_metrics_token_is_refused_at_startup(token):
    with pytest.raises(SettingsError) as caught:
        load_settings(metrics_token=token)
    assert caught.value.lines == ["配置错误 METRICS_TOKEN: METRICS_TOKEN 至少 16 个字符，且不能含空白"]


async def test_metrics_answer_when_the_database_does_not(aiohttp_client, make_settings, database_url):
    down = make_url(database_url).set(host="127.0.0.1", port=free_port())
    client = await aiohttp_client(create_worker_app(make_settings(database_url=down.render_as_string(False))))
    assert (await client.get("/healthz")).status == 200
    samples = await scrape(client)
    assert value(samples, "zsb_database_scrape_success") == 0
    assert value(samples, "zsb_http_requests_total", method="GET", route="/healthz", status="200") == 1
    assert value(samples, "process_cpu_seconds_total") > 0
    assert database_gauges(samples) == {("zsb_database_scrape_success", frozenset()): 0}  # absent, not stale or zero


async def test_metrics_are_not_part_of_the_json_api_document(client):
    paths = (await (await client.get("/api/openapi.json")).json())["paths"]
    assert "/metrics" not in paths and "/healthz" not in paths and "/readyz" not in paths
    assert "/api/v1/calendar/deadline" in paths
