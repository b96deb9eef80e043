"""Applications (办件) over HTTP: events applied once and in event-time order, the promised date
with suspensions, 补齐补正 and 容缺, who may look one up, and 好差评."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.calendar_service import refresh_calendar
from core.outbox import OutboxMessage
from tests.personal_space_helpers import (  # noqa: F401 - app_client is a fixture
    ALICE, BOB, app_client, citizen, event_id, signed, signer,
)
from tests.row_counts import statements

NUMBER = "SX20261105000123"


@pytest.fixture
def push(app_client, clock):
    async def push(state: str, occurred_at: str, *, same_event: str | None = None, number: str = NUMBER, **extra):
        body = {"event_id": same_event or event_id("app"), "application_no": number, "query_password": "839201",
                "item_code": "KE-FOOD-01", "item_name": "食品经营许可（新办）", "department": "市市场监管局",
                "applicant": {"type": "person", "id": ALICE["id_number"], "name": ALICE["name"]},
                "state": state, "occurred_at": occurred_at, "promised_working_days": 10, **extra}
        response = await signed(app_client, "/integration/v1/application-events", body, now=clock.now().timestamp())
        assert response.status == 200, await response.text()
        return await response.json()
    return push


async def test_events_out_of_order_are_read_in_event_time_order(app_client, push, alice):
    await push("in_review", "2026-11-06T09:00:00+08:00")
    await push("accepted", "2026-11-05T10:12:00+08:00")
    await push("submitted", "2026-11-05T09:00:00+08:00")
    [application] = await (await app_client.get("/api/v1/me/applications", headers=alice)).json()
    assert application["state"] == "in_review" and application["state_label"] == "审查中"
    assert [s["state"] for s in application["timeline"]] == ["submitted", "accepted", "in_review"]
    assert application["accepted_on"] == "2026-11-05"
    assert application["due_date"] == "2026-11-19"  # 10 working days after Thursday 5 November


@pytest.fixture
def as_citizen(app_client, fake_wechat, clock):
    async def make(openid: str, who: dict) -> dict:
        return await citizen(app_client, fake_wechat, signer(app_client, clock), openid, who)
    return make


@pytest.fixture
async def alice(as_citizen):
    return await as_citizen("openid-alice", ALICE)


@pytest.fixture
async def bob(as_citizen):
    return await as_citizen("openid-bob", BOB)


async def test_listing_my_applications_takes_as_many_statements_for_ten_as_for_one(app_client, push, alice):
    async def listed() -> tuple[list[dict], int]:
        with statements(app_client.server.app) as run:
            response = await app_client.get("/api/v1/me/applications", headers=alice)
        return await response.json(), len(run)

    async def pushed(first: int, last: int) -> None:
        for i in range(first, last):
            await push("accepted", "2026-11-05T10:12:00+08:00", number=f"SX202611050{i:05d}",
                       deferred_materials=[{"name": "健康证明", "due_date": "2026-11-20"}])

    await pushed(0, 1)
    one, for_one = await listed()
    await pushed(1, 10)
    ten, for_ten = await listed()
    assert [(len(a["timeline"]), len(a["deferred_materials"])) for a in one] == [(1, 1)]
    assert [(len(a["timeline"]), len(a["deferred_materials"])) for a in ten] == [(1, 1)] * 10
    assert for_ten == for_one


async def test_a_repeated_event_is_applied_once(app_client, push, alice):
    first = await push("accepted", "2026-11-05T10:12:00+08:00", same_event="app-77")
    again = await push("accepted", "2026-11-05T10:12:00+08:00", same_event="app-77")
    assert (first["result"], again["result"]) == ("applied", "duplicate")
    body = await (await app_client.get(f"/api/v1/applications/{NUMBER}", headers=alice)).json()
    assert len(body["timeline"]) == 1


async def test_suspension_pauses_the_promised_date(app_client, push, alice, clock):
    async def shown() -> tuple:
        body = await (await app_client.get(f"/api/v1/applications/{NUMBER}", headers=alice)).json()
        return body["due_date"], body["timer_paused"], body["remaining_working_days"]

    await push("accepted", "2026-11-05T10:12:00+08:00")
    assert await shown() == ("2026-11-19", False, None)
    await push("suspended", "2026-11-10T15:00:00+08:00", note="专家评审")
    # 6, 9 and 10 November used of 10: the clock stands still, and so does what is shown,
    # however long the pause (no date that the pause would pass by).
    assert await shown() == (None, True, 7)
    clock.advance(timedelta(days=20))
    assert await shown() == (None, True, 7)
    await push("in_review", "2026-11-12T09:00:00+08:00")
    assert await shown() == ("2026-11-23", False, None)  # 19 November plus the 2 working days suspended (11th, 12th)


async def test_a_pause_before_acceptance_does_not_count_and_a_late_event_may_bring_the_only_time_limit(
        app_client, push, alice):
    async def shown() -> tuple:
        body = await (await app_client.get(f"/api/v1/applications/{NUMBER}", headers=alice)).json()
        return body["due_date"], body["timer_paused"], body["remaining_working_days"]

    await push("submitted", "2026-11-02T09:00:00+08:00", promised_working_days=None)
    await push("suspended", "2026-11-03T09:00:00+08:00", promised_working_days=None)
    assert await shown() == (None, True, None)  # paused before the clock started: nothing to count yet
    await push("suspended", "2026-11-10T15:00:00+08:00", promised_working_days=None)
    await push("accepted", "2026-11-05T10:12:00+08:00")  # late, and the only event that names the limit
    # the 3 and 4 November spent suspended came before acceptance: 6, 9 and 10 used of 10
    assert await shown() == (None, True, 7)
    await push("in_review", "2026-11-12T09:00:00+08:00", promised_working_days=None)
    assert await shown() == ("2026-11-23", False, None)


async def test_a_paused_clock_is_what_the_applicant_hears_and_the_bot_says(app_client, push, alice):
    from core import keys
    from personal_space.models import Application
    from bot.flows.progress import _progress_text

    await push("accepted", "2026-11-05T10:12:00+08:00")
    await push("suspended", "2026-11-10T15:00:00+08:00", note="现场核查")
    app = app_client.server.app
    async with app[keys.SESSIONS]() as session:
        told = [row.data for row in await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]
        text = await _progress_text(session, await session.get(Application, NUMBER))
    assert told[-1]["承诺办结日"] == "特别程序期间暂停计时，恢复后尚余7个工作日"
    assert "承诺办结日：特别程序期间暂停计时，恢复后尚余7个工作日" in text


async def test_a_delayed_older_event_does_not_bring_back_an_old_password_or_time_limit(app_client, push, alice):
    await push("accepted", "2026-11-05T10:12:00+08:00")
    await push("in_review", "2026-11-09T09:00:00+08:00", query_password="246810", promised_working_days=15,
               department="市市场监管局行政审批科")
    await push("submitted", "2026-11-04T09:00:00+08:00")  # late, with the old password and limit
    body = await (await app_client.get(f"/api/v1/applications/{NUMBER}", headers=alice)).json()
    assert (body["state"], body["promised_working_days"], body["department"]) == ("in_review", 15, "市市场监管局行政审批科")
    old = await app_client.get(f"/api/v1/applications/{NUMBER}", params={"password": "839201"})
    new = await app_client.get(f"/api/v1/applications/{NUMBER}", params={"password": "246810"})
    assert (old.status, new.status) == (404, 200)


async def test_a_forecast_promised_date_follows_the_published_calendar(app_client, push, alice, calendar_file):
    await push("accepted", "2026-12-22T10:00:00+08:00")  # 10 working days: 12-23..12-31 are 7
    body = await (await app_client.get(f"/api/v1/applications/{NUMBER}", headers=alice)).json()
    assert (body["due_date"], body["due_provisional"]) == ("2027-01-06", True)  # forecast: only 01-01 off
    calendar_file.write_text("years:\n  2027:\n    published: true\n    source: 测试用安排\n    holidays:\n"
                             "      - {from: 2027-01-01, to: 2027-01-04, name: 元旦}\n", encoding="utf-8")
    await refresh_calendar(app_client.server.app)
    body = await (await app_client.get(f"/api/v1/applications/{NUMBER}", headers=alice)).json()
    assert (body["due_date"], body["due_provisional"]) == ("2027-01-07", False)  # 01-05, 01-06, 01-07


async def test_supplement_notice_lists_every_missing_item_and_closes_when_done(app_client, push, alice):
    await push("accepted", "2026-11-05T10:12:00+08:00",
               deferred_materials=[{"name": "健康证明", "due_date": "2026-11-20"}])
    await push("supplement_requested", "2026-11-06T10:00:00+08:00", missing_materials=["场所平面图", "设备布局图"])
    body = await (await app_client.get(f"/api/v1/applications/{NUMBER}", headers=alice)).json()
    assert body["state_label"] == "补齐补正" and body["missing_materials"] == ["场所平面图", "设备布局图"]
    assert body["deferred_materials"] == [{"name": "健康证明", "due_date": "2026-11-20"}]
    await push("in_review", "2026-11-09T10:00:00+08:00")
    body = await (await app_client.get(f"/api/v1/applications/{NUMBER}", headers=alice)).json()
    assert body["missing_materials"] == [] and body["timeline"][1]["missing_materials"] == ["场所平面图", "设备布局图"]


async def test_others_need_the_query_password_and_learn_nothing_from_wrong_numbers(app_client, push, bob):
    await push("accepted", "2026-11-05T10:12:00+08:00")
    assert (await app_client.get(f"/api/v1/applications/{NUMBER}", headers=bob)).status == 404
    assert await (await app_client.get("/api/v1/me/applications", headers=bob)).json() == []
    wrong_password = await app_client.get(f"/api/v1/applications/{NUMBER}", params={"password": "000000"})
    no_such_number = await app_client.get("/api/v1/applications/SX20261105999999", params={"password": "839201"})
    assert wrong_password.status == no_such_number.status == 404
    assert await wrong_password.json() == await no_such_number.json()
    right = await app_client.get(f"/api/v1/applications/{NUMBER}", params={"password": "839201"})
    assert right.status == 200 and (await right.json())["state"] == "accepted"
    typed_lower = await app_client.get(f"/api/v1/applications/{NUMBER.lower()}", params={"password": "839201"})
    assert typed_lower.status == 200 and (await typed_lower.json())["application_no"] == NUMBER


async def test_a_query_password_read_masks_the_applicant_and_is_in_the_applicants_access_log(app_client, push,
                                                                                               alice, bob):
    await push("accepted", "2026-11-05T10:12:00+08:00")
    assert (await (await app_client.get(f"/api/v1/applications/{NUMBER}", headers=alice)).json())["applicant_name"] \
        == "张三"  # the owner's own read: the name whole, and nothing logged
    by_bob = await app_client.get(f"/api/v1/applications/{NUMBER}", params={"password": "839201"}, headers=bob)
    anonymous = await app_client.get(f"/api/v1/applications/{NUMBER}", params={"password": "839201"})
    assert (await by_bob.json())["applicant_name"] == (await anonymous.json())["applicant_name"] == "张*"
    log = await (await app_client.get("/api/v1/me/access-log", headers=alice)).json()
    assert [(r["reader_type"], r["reader"], r["resource"]) for r in log] == [
        ("query_password", "未实名认证的用户", f"办件 {NUMBER}（小程序，凭查询密码）"),
        ("query_password", "李四（420704********1231）", f"办件 {NUMBER}（小程序，凭查询密码）"),
    ]
    assert await (await app_client.get("/api/v1/me/access-log", headers=bob)).json() == []


async def test_password_guessing_is_rate_limited(app_client, push):
    await push("accepted", "2026-11-05T10:12:00+08:00")
    statuses = [(await app_client.get(f"/api/v1/applications/{NUMBER}", params={"password": f"{i:06d}"})).status
                for i in range(11)]
    assert statuses == [404] * 10 + [429]
    blocked = await app_client.get(f"/api/v1/applications/{NUMBER}", params={"password": "839201"})
    assert blocked.status == 429 and (await blocked.json())["error"]["code"] == "lookup_rate_limited"


async def test_rating_a_concluded_application(app_client, push, alice, bob):
    await push("accepted", "2026-11-05T10:12:00+08:00")
    url = f"/api/v1/applications/{NUMBER}/rating"
    early = await app_client.post(url, json={"level": "满意"}, headers=alice)
    assert early.status == 409 and (await early.json())["error"]["code"] == "application_not_concluded"
    await push("approved", "2026-11-12T10:00:00+08:00")
    assert (await app_client.post(url, json={"level": "不满意"}, headers=bob)).status == 404
    no_reason = await app_client.post(url, json={"level": "不满意"}, headers=alice)
    assert no_reason.status == 400 and (await no_reason.json())["error"]["code"] == "rating_reason_required"
    rated = await app_client.post(url, json={"level": "非常不满意", "reason": "窗口让我跑了三次"}, headers=alice)
    assert rated.status == 201 and (await rated.json())["needs_follow_up"] is True
    twice = await app_client.post(url, json={"level": "满意"}, headers=alice)
    assert twice.status == 409 and (await twice.json())["error"]["code"] == "already_rated"


async def test_events_and_ratings_arriving_together_are_each_applied_once(app_client, push, alice):
    numbers = [f"SX2026110510{i:04d}" for i in range(6)]
    await asyncio.gather(*(push(state, when, number=number) for number in numbers
                           for state, when in (("accepted", "2026-11-05T10:12:00+08:00"),
                                               ("approved", "2026-11-12T10:00:00+08:00"))))
    listed = await (await app_client.get("/api/v1/me/applications", headers=alice)).json()
    assert {a["application_no"]: (a["state"], len(a["timeline"])) for a in listed} == \
        {number: ("approved", 2) for number in numbers}
    url = f"/api/v1/applications/{numbers[0]}/rating"
    tapped = await asyncio.gather(*(app_client.post(url, json={"level": "满意"}, headers=alice) for _ in range(4)))
    assert sorted(r.status for r in tapped) == [201, 409, 409, 409], [await r.text() for r in tapped]


async def test_the_five_rating_levels_are_in_the_openapi_document_and_no_other_is_taken(app_client, push, alice):
    spec = await (await app_client.get("/api/openapi.json")).json()
    assert spec["components"]["schemas"]["RatingIn"]["properties"]["level"]["enum"] == [
        "非常满意", "满意", "基本满意", "不满意", "非常不满意"]
    await push("approved", "2026-11-12T10:00:00+08:00")
    response = await app_client.post(f"/api/v1/applications/{NUMBER}/rating", json={"level": "还行"}, headers=alice)
    assert response.status == 400
    assert (await response.json())["error"]["details"] == [
        {"field": "level", "message": "应为以下之一：非常满意、满意、基本满意、不满意、非常不满意"}]
