"""Reminders and the outbox against PostgreSQL and the fake WeChat server: one message per stage
per recipient as the clock moves, enterprises' recipients, renewals, retries, and a worker cut
off mid-batch."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from core import outbox
from core.clock import SHANGHAI
from core.db import transaction
from core.outbox import Draft, OutboxMessage
from personal_space.reminders import plan_due_reminders
from tests.personal_space_helpers import (  # noqa: F401 - subscribe_client is a fixture
    ALICE, BOB, COMPANY, TEMPLATES, bind, licence, login, signed, subscribe_client,
)


@pytest.fixture
def app_client(subscribe_client):
    return subscribe_client


@pytest.fixture
def post(app_client, clock):
    async def post(path: str, body: dict, **kwargs):
        response = await signed(app_client, path, body, now=clock.now().timestamp(), **kwargs)
        assert response.status == 200, await response.text()
        return response
    return post


def on(clock, day: date) -> None:
    clock.set(datetime(day.year, day.month, day.day, 9, 30, tzinfo=SHANGHAI))


async def day_by_day(app, clock, start: date, end: date) -> None:
    """Run the planner and a delivery round each morning from start to end."""
    day = start
    while day <= end:
        on(clock, day)
        await plan_due_reminders(app)
        await outbox.run_once(app)
        day += timedelta(days=1)


def reminders(fake, openid: str | None = None) -> list[str]:
    return [m["data"]["提醒"]["value"] for m in fake.subscribe_messages
            if m["template_id"] == TEMPLATES["licence_expiry"] and (openid is None or m["touser"] == openid)]


async def test_one_message_per_stage_as_the_clock_moves(app_client, fake_wechat, post, clock):
    app = app_client.app
    await bind(post, "openid-alice", ALICE)
    expiry = clock.today() + timedelta(days=95)
    await post("/integration/v1/licences", licence(ALICE, "食品经营许可证", valid_until=expiry.isoformat()))
    await day_by_day(app, clock, clock.today(), expiry + timedelta(days=3))
    assert reminders(fake_wechat) == [f"食品经营许可证{t}，请及时办理延续或换证"
                                      for t in ("还有90天到期", "还有30天到期", "还有7天到期", "还有1天到期", "今天到期")]
    await day_by_day(app, clock, expiry - timedelta(days=1), expiry)  # planning the same days again adds nothing
    assert len(reminders(fake_wechat)) == 5


async def test_a_missed_week_gives_the_latest_stage_once(app_client, fake_wechat, post, clock):
    app = app_client.app
    await bind(post, "openid-alice", ALICE)
    expiry = clock.today() + timedelta(days=10)
    await post("/integration/v1/licences", licence(ALICE, "食品经营许可证", valid_until=expiry.isoformat()))
    await day_by_day(app, clock, clock.today(), clock.today())  # it arrived past its 30-day stage: told at once
    on(clock, expiry - timedelta(days=1))  # the service was down for 8 days: the 7-day stage passed
    await plan_due_reminders(app)
    await outbox.run_once(app)
    assert reminders(fake_wechat) == ["食品经营许可证还有10天到期，请及时办理延续或换证",
                                      "食品经营许可证还有1天到期，请及时办理延续或换证"]


async def test_a_planner_down_past_the_last_day_sends_no_reminder_of_a_day_gone_by(app_client, fake_wechat, post,
                                                                                  clock):
    app = app_client.app
    await bind(post, "openid-alice", ALICE)
    expiry = clock.today() + timedelta(days=10)
    await post("/integration/v1/licences", licence(ALICE, "食品经营许可证", valid_until=expiry.isoformat()))
    await post("/integration/v1/application-events", {
        "application_no": "SX20261118000002", "query_password": "839201", "item_code": "KE-FOOD-01",
        "item_name": "食品经营许可（新办）", "department": "市市场监管局", "promised_working_days": 10,
        "applicant": {"type": "person", "id": ALICE["id_number"], "name": ALICE["name"]}, "event_id": "d2",
        "state": "accepted", "occurred_at": clock.now().isoformat(),
        "deferred_materials": [{"name": "健康证明", "due_date": expiry.isoformat()}]})
    await day_by_day(app, clock, clock.today(), clock.today())
    on(clock, expiry + timedelta(days=3))  # down from the first day on, back three days after both dates
    await plan_due_reminders(app)
    await outbox.run_once(app)
    assert reminders(fake_wechat) == ["食品经营许可证还有10天到期，请及时办理延续或换证"]  # on arrival only
    assert not [m for m in fake_wechat.subscribe_messages if m["template_id"] == TEMPLATES["deferred_material"]]


async def test_a_licence_arriving_after_the_days_planning_is_reminded_of_its_stage_that_day(
        app_client, fake_wechat, post, clock):
    app = app_client.app
    await bind(post, "openid-alice", ALICE)
    await day_by_day(app, clock, clock.today(), clock.today())  # the day's planning round is over
    expiry = clock.today() + timedelta(days=30)
    for _ in range(2):  # pushed twice: the second is not newer and changes nothing
        await post("/integration/v1/licences", licence(ALICE, licence_id="lic-30", valid_until=expiry.isoformat()))
    await day_by_day(app, clock, clock.today(), clock.today() + timedelta(days=2))
    assert reminders(fake_wechat) == ["食品经营许可证还有30天到期，请及时办理延续或换证"]


async def test_enterprise_licences_go_to_the_representative_and_active_agents(app_client, fake_wechat, post, clock):
    app = app_client.app
    await bind(post, "openid-alice", ALICE)
    await bind(post, "openid-bob", BOB)
    expiry = clock.today() + timedelta(days=7)
    await post("/integration/v1/licences", licence(COMPANY, "食品经营许可证", valid_until=expiry.isoformat(),
                                                   legal_representative={"id_number": ALICE["id_number"],
                                                                         "name": ALICE["name"]}))
    from personal_space import people  # an agent, granted by the representative until tomorrow
    async with transaction(app) as session:
        await people.grant_agent(session, COMPANY["id"], ALICE["id_number"], BOB["id_number"], BOB["name"],
                                 clock.today() + timedelta(days=1), clock.now())
    await day_by_day(app, clock, clock.today(), expiry)
    assert Counter(m["touser"] for m in fake_wechat.subscribe_messages) == {"openid-alice": 3, "openid-bob": 1}


async def test_a_renewal_restarts_the_stages(app_client, fake_wechat, post, clock):
    app = app_client.app
    await bind(post, "openid-alice", ALICE)
    first = clock.today() + timedelta(days=30)
    await post("/integration/v1/licences", licence(ALICE, "食品经营许可证", licence_id="L-1",
                                                   valid_until=first.isoformat()))
    await day_by_day(app, clock, clock.today(), clock.today() + timedelta(days=5))
    renewed = first + timedelta(days=365 * 3)
    await post("/integration/v1/licences", licence(ALICE, "食品经营许可证", licence_id="L-1", version=2,
                                                   valid_until=renewed.isoformat()))
    await day_by_day(app, clock, clock.today() + timedelta(days=1), first + timedelta(days=2))
    assert reminders(fake_wechat) == ["食品经营许可证还有30天到期，请及时办理延续或换证"]  # no 7, 1, 0 for the old date
    await day_by_day(app, clock, renewed - timedelta(days=91), renewed - timedelta(days=89))
    assert reminders(fake_wechat)[-1] == "食品经营许可证还有90天到期，请及时办理延续或换证"


async def test_reminders_go_to_the_mini_program_account_not_an_official_account_bound_later(
        app_client, fake_wechat, post, clock):
    app = app_client.app
    await login(app_client, fake_wechat, "openid-mp-alice")
    await bind(post, "openid-mp-alice", ALICE)
    clock.advance(timedelta(minutes=5))
    await bind(post, "openid-oa-alice", ALICE)  # she bound in the official account too: later, never in the mini-program
    expiry = clock.today() + timedelta(days=7)
    await post("/integration/v1/licences", licence(ALICE, "食品经营许可证", valid_until=expiry.isoformat()))
    await outbox.run_once(app)  # it arrived past its 7-day stage: queued at once
    assert [m["touser"] for m in fake_wechat.subscribe_messages] == ["openid-mp-alice"]


async def test_a_licence_renewed_as_a_new_one_is_no_longer_reminded_of(app_client, fake_wechat, post, clock):
    app = app_client.app
    headers = await login(app_client, fake_wechat, "openid-alice")
    await bind(post, "openid-alice", ALICE)
    first = clock.today() + timedelta(days=30)
    await post("/integration/v1/licences", licence(ALICE, "机动车驾驶证", licence_id="D-1", valid_until=first.isoformat()))
    await day_by_day(app, clock, clock.today(), clock.today() + timedelta(days=5))
    renewed = first + timedelta(days=365 * 6)  # the new card, still valid alongside the old till the old's date
    await post("/integration/v1/licences", licence(ALICE, "机动车驾驶证", licence_id="D-2", replaces="D-1",
                                                   valid_until=renewed.isoformat()))
    body = await (await app_client.get("/api/v1/me/reminders",
                                       headers={"Authorization": headers["Authorization"]})).json()
    assert body == []  # the old one is renewed, the new one is years away
    await post("/integration/v1/licences", licence(ALICE, "机动车驾驶证", licence_id="D-1", version=2,  # a correction
                                                   valid_until=(first - timedelta(days=20)).isoformat()))
    await day_by_day(app, clock, clock.today() + timedelta(days=1), first + timedelta(days=1))
    assert reminders(fake_wechat) == ["机动车驾驶证还有30天到期，请及时办理延续或换证"]  # no 7, 1, 0 for the old card


async def test_retries_with_backoff_and_permanent_failures_are_visible(app_client, fake_wechat, clock):
    app = app_client.app
    async with transaction(app) as session:
        await outbox.enqueue(session, [Draft(f"k{i}", "wechat_subscribe", f"openid-{i}", f"p{i}", "licence_expiry",
                                             {"提醒": "测试"}) for i in range(2)], clock.now())
    fake_wechat.fail_next("message/subscribe/send", -1)  # system busy: try again later
    fake_wechat.fail_next("message/subscribe/send", 43101)  # the user refused: never again
    await outbox.run_once(app)
    states = await _states(app)
    assert sorted(states.values()) == ["permanent-failure", "temporary-failure"]
    await outbox.run_once(app)  # not yet time to retry
    assert len(fake_wechat.subscribe_messages) == 0
    clock.advance(timedelta(seconds=31))
    await outbox.run_once(app)
    assert sorted((await _states(app)).values()) == ["delivered", "permanent-failure"]
    assert len(fake_wechat.subscribe_messages) == 1


async def test_a_wechat_outage_is_waited_out_for_a_day_from_the_first_try_then_given_up(
        app_client, fake_wechat, clock):
    app = app_client.app
    async with transaction(app) as session:
        await outbox.enqueue(session, [Draft("k-outage", "wechat_subscribe", "openid-1", "p1", "licence_expiry",
                                             {"提醒": "测试"})], clock.now())
    began = clock.now()
    fake_wechat.fail_next("message/subscribe/send", -1, times=1000)  # system busy, all day long
    while (await _states(app))["k-outage"] in ("created", "temporary-failure") and clock.now() - began < timedelta(days=2):
        await outbox.run_once(app)
        clock.advance(timedelta(minutes=30))
        if clock.now() - began == timedelta(hours=2):
            assert (await _states(app))["k-outage"] == "temporary-failure"  # past the old 8 tries (~1 hour)
    async with transaction(app) as session:
        message = await session.scalar(select(OutboxMessage))
    assert message.state == "permanent-failure" and "24小时内" in message.last_error
    assert outbox.RETRY_FOR <= clock.now() - began < timedelta(days=2)  # given up only after a day of tries
    assert 12 <= message.attempts <= 40 and fake_wechat.subscribe_messages == []


async def test_a_worker_whose_lease_ran_out_does_not_send_what_another_has_taken(app_client, fake_wechat, clock):
    app = app_client.app
    async with transaction(app) as session:
        await outbox.enqueue(session, [Draft("k-lease", "wechat_subscribe", "openid-1", "p1", "licence_expiry",
                                             {"提醒": "测试"})], clock.now())
    slow = await outbox._claim(app, clock.now(), 10)  # worker A takes it, then stalls past its lease
    clock.advance(outbox.LEASE + timedelta(seconds=1))
    taken = await outbox._claim(app, clock.now(), 10)  # worker B takes it over, not yet sent
    fake_wechat.fail_next("message/subscribe/send", -1)  # whoever sends first meets a busy WeChat
    await outbox._deliver(app, slow, outbox.senders(app))  # A wakes up and goes on with what it had: not its own now
    await outbox._deliver(app, taken, outbox.senders(app))
    sends = [path for path in fake_wechat.requests if path.endswith("message/subscribe/send")]
    assert len(sends) == 1  # one try, then the backoff: not A's and at once B's
    assert (await _states(app))["k-lease"] == "temporary-failure"


async def test_a_senders_own_fault_leaves_that_message_unknown_and_the_others_delivered(app_client, fake_wechat,
                                                                                       clock):
    app = app_client.app
    async with transaction(app) as session:
        await outbox.enqueue(session, [Draft("k-broken", "wechat_custom", "openid-1", "p1", "bot_followup", {}),
                                       Draft("k-fine", "wechat_subscribe", "openid-2", "p2", "licence_expiry",
                                             {"提醒": "测试"})], clock.now())
    await outbox.run_once(app)
    assert await _states(app) == {"k-broken": "technical-failure", "k-fine": "delivered"}


async def _states(app) -> dict[str, str]:
    async with transaction(app) as session:
        return {m.key: m.state for m in await session.scalars(select(OutboxMessage))}


async def test_a_worker_cut_off_mid_batch_loses_nothing_and_sends_nothing_twice(app_client, fake_wechat, clock):
    app = app_client.app
    async with transaction(app) as session:
        await outbox.enqueue(session, [Draft(f"k{i}", "wechat_subscribe", f"openid-{i}", f"p{i}", "licence_expiry",
                                             {"提醒": f"第{i}条"}) for i in range(80)], clock.now())
    fake_wechat.delay = 0.4
    worker = asyncio.create_task(outbox.run_once(app))
    await asyncio.sleep(0.2)  # some messages in flight, the rest claimed but not started
    worker.cancel()
    with pytest.raises(asyncio.CancelledError):
        await worker
    fake_wechat.delay = 0
    clock.advance(outbox.LEASE + timedelta(seconds=1))
    await asyncio.gather(outbox.run_once(app), outbox.run_once(app))  # two workers share what is left
    await asyncio.sleep(0.6)  # the cut-off calls' threads finish their HTTP requests
    states = Counter((await _states(app)).values())
    assert set(states) <= {"delivered", "technical-failure"} and states["technical-failure"] > 0
    per_openid = Counter(m["touser"] for m in fake_wechat.subscribe_messages)
    assert len(per_openid) == 80 and set(per_openid.values()) == {1}


async def test_application_state_changes_are_announced_once(app_client, fake_wechat, post, clock):
    app = app_client.app
    await bind(post, "openid-alice", ALICE)
    body = {"application_no": "SX20261105000123", "query_password": "839201", "item_code": "KE-FOOD-01",
            "item_name": "食品经营许可（新办）", "department": "市市场监管局", "promised_working_days": 10,
            "applicant": {"type": "person", "id": ALICE["id_number"], "name": ALICE["name"]}}
    await post("/integration/v1/application-events", {**body, "event_id": "e1", "state": "accepted",
                                                      "occurred_at": "2026-11-05T10:12:00+08:00"})
    await post("/integration/v1/application-events", {**body, "event_id": "e1", "state": "accepted",
                                                      "occurred_at": "2026-11-05T10:12:00+08:00"})
    await post("/integration/v1/application-events", {**body, "event_id": "e0", "state": "submitted",
                                                      "occurred_at": "2026-11-05T09:00:00+08:00"})  # late, older
    await outbox.run_once(app)
    sent = [m["data"]["办理状态"]["value"] for m in fake_wechat.subscribe_messages
            if m["template_id"] == TEMPLATES["application_state"]]
    assert sent == ["已受理"]


async def test_upcoming_reminders_for_me_and_my_enterprise(app_client, fake_wechat, post, clock):
    headers = await login(app_client, fake_wechat, "openid-alice")
    await bind(post, "openid-alice", ALICE)
    today = clock.today()
    await post("/integration/v1/licences", licence(ALICE, "机动车驾驶证", valid_until=(today + timedelta(days=25)).isoformat()))
    await post("/integration/v1/licences", licence(ALICE, "居民身份证", valid_until=(today + timedelta(days=400)).isoformat()))
    await post("/integration/v1/licences", licence(COMPANY, "食品经营许可证",
                                                   valid_until=(today + timedelta(days=3)).isoformat(),
                                                   legal_representative={"id_number": ALICE["id_number"],
                                                                         "name": ALICE["name"]}))
    body = await (await app_client.get("/api/v1/me/reminders",
                                       headers={"Authorization": headers["Authorization"]})).json()
    assert [(r["kind"], r["days_left"], r["next_reminder_on"]) for r in body] == [
        ("食品经营许可证", 3, (today + timedelta(days=2)).isoformat()),  # the 1-day stage comes next
        ("机动车驾驶证", 25, (today + timedelta(days=18)).isoformat()),  # then the 7-day stage
    ]


async def test_deferred_materials_are_reminded_while_the_application_is_open(app_client, fake_wechat, post, clock):
    app = app_client.app
    await bind(post, "openid-alice", ALICE)
    due = await _accepted_with_a_deferred_material(post, clock, "SX20261118000001", days=5)
    await day_by_day(app, clock, clock.today(), due + timedelta(days=1))
    assert _deferred_reminders(fake_wechat) == ["还有3天到补交期限", "还有1天到补交期限", "今天是补交期限"]


async def _accepted_with_a_deferred_material(post, clock, number: str, *, days: int) -> date:
    """Alice's application accepted now, its 健康证明 promised `days` later; that date."""
    due = clock.today() + timedelta(days=days)
    await post("/integration/v1/application-events", {
        "event_id": f"accepted-{number}", "application_no": number, "query_password": "839201",
        "item_code": "KE-FOOD-01", "item_name": "食品经营许可（新办）", "department": "市市场监管局",
        "promised_working_days": 10, "applicant": {"type": "person", "id": ALICE["id_number"], "name": ALICE["name"]},
        "state": "accepted", "occurred_at": clock.now().isoformat(),
        "deferred_materials": [{"name": "健康证明", "due_date": due.isoformat()}]})
    return due


def _deferred_reminders(fake) -> list[str]:
    return [m["data"]["提醒"]["value"] for m in fake.subscribe_messages
            if m["template_id"] == TEMPLATES["deferred_material"]]


async def test_a_deferred_material_accepted_after_the_days_planning_is_reminded_of_its_stage_at_once(
        app_client, fake_wechat, post, clock):
    app = app_client.app
    await bind(post, "openid-alice", ALICE)
    on(clock, clock.today())
    await plan_due_reminders(app)  # the morning's planning is done
    clock.advance(timedelta(hours=2))
    due = await _accepted_with_a_deferred_material(post, clock, "SX20261118000002", days=2)
    await outbox.run_once(app)
    await day_by_day(app, clock, clock.today() + timedelta(days=1), due + timedelta(days=1))
    assert _deferred_reminders(fake_wechat) == ["还有2天到补交期限", "还有1天到补交期限", "今天是补交期限"]


async def test_a_worker_process_killed_mid_batch(app_client, fake_wechat, clock, database_url, redis_url):
    """A real worker process, SIGKILLed while messages are in flight; another worker finishes."""
    import json
    import os
    import signal
    import sys
    import time as wall

    from core.settings import REPO_ROOT

    app = app_client.app
    async with transaction(app) as session:
        await outbox.enqueue(session, [Draft(f"kill{i}", "wechat_subscribe", f"openid-{i}", f"p{i}", "licence_expiry",
                                             {"提醒": f"第{i}条"}) for i in range(60)], clock.now())
    fake_wechat.delay = 0.3
    settings = {"database_url": database_url, "redis_url": redis_url, "migrate_on_start": False, "demo_data": False,
                "run_workers": False, "notify_channel": "wechat_subscribe", "wechat_templates": TEMPLATES,
                **fake_wechat.settings()}
    child = await asyncio.create_subprocess_exec(sys.executable, "-m", "tests.outbox_worker_child", json.dumps(settings),
                                                 cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE,
                                                 stderr=asyncio.subprocess.DEVNULL, env={**os.environ})
    assert (await asyncio.wait_for(child.stdout.readline(), 60)).strip() == b"ready"
    while len(fake_wechat.requests) == 0 or not any("subscribe" in p for p in fake_wechat.requests):
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.35)  # one group delivered, the next in flight
    child.send_signal(signal.SIGKILL)
    await child.wait()
    fake_wechat.delay = 0
    await asyncio.sleep(0.5)  # the fake finishes answering the calls the dead process made
    clock.set(datetime.fromtimestamp(wall.time(), SHANGHAI) + outbox.LEASE + timedelta(seconds=1))
    while await outbox.run_once(app):
        pass
    states = await _states(app)
    assert set(states.values()) <= {"delivered", "technical-failure"}
    assert 0 < Counter(states.values())["delivered"] < 60
    per_openid = Counter(m["touser"] for m in fake_wechat.subscribe_messages)
    assert set(per_openid.values()) == {1}  # nothing twice
    # Nothing lost silently: a message WeChat never got is one the dead worker had on the wire, or
    # about to put there, so it may have arrived and is marked technical-failure, never re-sent.
    # (How many reached WeChat before the kill depends on the machine's speed.)
    never_arrived = {key for key in states if f"openid-{key.removeprefix('kill')}" not in per_openid}
    assert all(states[key] == "technical-failure" for key in never_arrived)
    assert all(f"openid-{key.removeprefix('kill')}" in per_openid for key, state in states.items() if state == "delivered")
