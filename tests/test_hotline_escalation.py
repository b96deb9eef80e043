"""督办 (PRODUCT.md §5): 黄牌 with one working day or less left, 红牌 and a 督办 record once the
deadline (23:59:59 of the due date) has passed, the notice repeated once per working day,
sign-for alerts, the console queues, the supervision list and the department KPIs.

The usual ticket here is accepted Wednesday 2026-11-18 and due Wednesday 2026-11-25
(11-19, 11-20, 11-23, 11-24, 11-25).
"""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import select

from core.calendar import WorkingCalendar
from core.db import transaction
from core.outbox import OutboxMessage
from hotline import rules
from hotline.escalation import run_scan
from tests.hotline_helpers import (  # noqa: F401 - fixtures
    Desk, alice, as_citizen, at, call_on, desk, file_ticket, hotline_client, notices, records,
)


@pytest.fixture
def app(hotline_client):
    return hotline_client.server.app


async def scan_at(app, clock, when: datetime) -> dict[str, int]:
    clock.set(when)
    return await run_scan(app)


async def card(desk: Desk, number: str) -> str:
    return (await desk.ticket("agent01", number))["card"]


# --- cards ------------------------------------------------------------------------------------


async def test_no_card_while_more_than_one_working_day_is_left(app, desk, clock):
    number = await call_on(desk, clock, "2026-11-18")
    for day in ("2026-11-18", "2026-11-20", "2026-11-23"):  # 5, 3 and 2 working days left
        counts = await scan_at(app, clock, at(day, 17))
        assert counts["yellow"] == counts["red"] == 0
    assert await card(desk, number) == "none"
    assert await notices(app) == []


async def test_yellow_card_when_the_due_date_is_the_next_working_day(app, desk, clock):
    number = await call_on(desk, clock, "2026-11-18")
    counts = await scan_at(app, clock, at("2026-11-24", 9))  # Tuesday; due Wednesday
    assert counts["yellow"] == 1 and counts["red"] == 0
    assert await card(desk, number) == "yellow"
    assert await notices(app) == [("staff:cgj", "ticket_yellow", {number})]  # no supervisors for yellow


async def test_yellow_card_on_friday_when_due_on_monday(app, desk, clock):
    # accepted Mon 11-16: 11-17, 11-18, 11-19, 11-20, 11-23 → due Monday 11-23
    number = await call_on(desk, clock, "2026-11-16")
    assert (await scan_at(app, clock, at("2026-11-19", 17)))["yellow"] == 0  # Thursday: Friday and Monday left
    assert (await scan_at(app, clock, at("2026-11-20", 9)))["yellow"] == 1  # Friday: only Monday left
    assert await card(desk, number) == "yellow"


def test_the_card_a_deadline_calls_for_is_the_one_the_scan_raises(calendar_file):
    """rules.card_for, which lowers a card after an action, by the same rule as the scan above."""
    calendar = WorkingCalendar.load(calendar_file)
    monday, end = date(2026, 11, 23), at("2026-11-23", 23, 59, 59)
    cards = {when: rules.card_for(calendar, at(*when), monday, end) for when in (
        ("2026-11-19", 17), ("2026-11-20", 9), ("2026-11-22", 9), ("2026-11-23", 23, 59, 59), ("2026-11-24", 0))}
    assert cards == {("2026-11-19", 17): "none", ("2026-11-20", 9): "yellow", ("2026-11-22", 9): "yellow",
                     ("2026-11-23", 23, 59, 59): "yellow", ("2026-11-24", 0): "red"}
    assert rules.yellow_until(calendar, date(2026, 11, 20)) == monday  # Friday: Monday is the next working day


async def test_yellow_card_on_the_due_day_itself(app, desk, clock):
    number = await call_on(desk, clock, "2026-11-18")
    counts = await scan_at(app, clock, at("2026-11-25", 23, 59, 59))  # the last second: not yet late
    assert counts["yellow"] == 1 and counts["red"] == 0
    assert await card(desk, number) == "yellow"


async def test_red_card_right_after_the_deadline_with_a_supervision_record_and_notices(app, desk, clock):
    number = await call_on(desk, clock, "2026-11-18")
    await scan_at(app, clock, at("2026-11-25", 23, 59, 59))  # yellow
    counts = await scan_at(app, clock, at("2026-11-26", 0, 0, 0))
    assert counts["red"] == 1
    assert await card(desk, number) == "red"
    assert await records(app, "red") == [(number, "red", date(2026, 11, 26), "cgj")]
    red = [n for n in await notices(app) if n[1] == "ticket_red"]
    assert sorted(red) == [("staff:cgj", "ticket_red", {number}), ("staff:supervisors", "ticket_red", {number})]


async def test_one_digest_per_recipient_for_many_tickets(app, desk, clock):
    first = await call_on(desk, clock, "2026-11-18")
    second = await call_on(desk, clock, "2026-11-18")
    other = await call_on(desk, clock, "2026-11-18", "zjj")
    await scan_at(app, clock, at("2026-11-26", 0, 0, 1))
    red = sorted(n for n in await notices(app) if n[1] == "ticket_red")
    assert red == [("staff:cgj", "ticket_red", {first, second}),
                   ("staff:supervisors", "ticket_red", {first, second, other}),
                   ("staff:zjj", "ticket_red", {other})]


async def test_an_action_taken_before_the_scan_does_not_swallow_the_red_card(app, desk, clock):
    number = await call_on(desk, clock, "2026-11-18", sign=False)
    clock.set(at("2026-11-26", 8))  # late; the department signs before the scan has looked
    await desk.ok("dept-cgj", number, "sign")
    assert (await scan_at(app, clock, at("2026-11-26", 8, 1)))["red"] == 1
    assert await records(app, "red") == [(number, "red", date(2026, 11, 26), "cgj")]
    assert ("staff:supervisors", "ticket_red", {number}) in await notices(app)
    assert (await scan_at(app, clock, at("2026-11-27", 9)))["red"] == 1  # and it repeats


async def test_a_second_scan_on_the_same_day_raises_and_sends_nothing(app, desk, clock):
    await call_on(desk, clock, "2026-11-18")
    await scan_at(app, clock, at("2026-11-26", 0, 0, 1))
    sent, recorded = await notices(app), await records(app)
    counts = await scan_at(app, clock, at("2026-11-26", 15))
    assert not any(counts.values())
    assert await notices(app) == sent and await records(app) == recorded


async def test_the_red_notice_repeats_once_each_working_day_but_not_at_the_weekend(app, desk, clock):
    number = await call_on(desk, clock, "2026-11-18")
    await scan_at(app, clock, at("2026-11-26", 0, 0, 1))  # Thursday: red raised
    raised = len(await notices(app))
    assert (await scan_at(app, clock, at("2026-11-27", 9)))["red"] == 1  # Friday: repeated
    assert (await scan_at(app, clock, at("2026-11-27", 16)))["red"] == 0  # once a day
    friday = (await notices(app))[raised:]
    assert sorted(friday) == [("staff:cgj", "ticket_red", {number}), ("staff:supervisors", "ticket_red", {number})]
    for when in (at("2026-11-28", 9), at("2026-11-29", 9)):  # Saturday, Sunday
        assert not any((await scan_at(app, clock, when)).values())
    assert len(await notices(app)) == raised + 2
    assert (await scan_at(app, clock, at("2026-11-30", 9)))["red"] == 1  # Monday
    assert len(await notices(app)) == raised + 4
    assert [r[2] for r in await records(app, "red")] == [date(2026, 11, 26), date(2026, 11, 27), date(2026, 11, 30)]
    assert await card(desk, number) == "red"


async def test_no_repeat_on_public_holidays(app, desk, clock):
    # accepted Tue 09-22: 09-23 (1), 09-24 (2), 中秋 09-25 off, 09-28 (3), 09-29 (4), 09-30 (5)
    number = await call_on(desk, clock, "2026-09-22")
    assert (await scan_at(app, clock, at("2026-10-01", 0, 0, 1)))["red"] == 1  # late, on a holiday
    for day in ("2026-10-02", "2026-10-03", "2026-10-05", "2026-10-07"):
        assert (await scan_at(app, clock, at(day, 9)))["red"] == 0
    assert (await scan_at(app, clock, at("2026-10-08", 9)))["red"] == 1  # the first working day after
    assert [r[2] for r in await records(app, "red")] == [date(2026, 10, 1), date(2026, 10, 8)]
    assert {n for _, _, numbers in await notices(app) for n in numbers} == {number}


# --- sign-for alerts --------------------------------------------------------------------------


async def test_sign_for_alert_when_not_signed_by_the_end_of_the_next_working_day(app, desk, clock):
    late = await call_on(desk, clock, "2026-11-18", sign=False)  # sign by the end of Thu 11-19
    prompt = await call_on(desk, clock, "2026-11-18", sign=False)
    clock.set(at("2026-11-19", 16))
    await desk.ok("dept-cgj", prompt, "sign")
    assert (await scan_at(app, clock, at("2026-11-19", 23, 59)))["sign_overdue"] == 0
    assert (await scan_at(app, clock, at("2026-11-20", 0, 0, 1)))["sign_overdue"] == 1
    assert await records(app, "sign_overdue") == [(late, "sign_overdue", date(2026, 11, 20), "cgj")]
    assert await notices(app) == [("staff:cgj", "ticket_sign_overdue", {late})]
    assert (await scan_at(app, clock, at("2026-11-20", 15)))["sign_overdue"] == 0  # once a day
    clock.set(at("2026-11-20", 16))
    await desk.ok("dept-cgj", late, "sign")
    assert (await scan_at(app, clock, at("2026-11-23", 9)))["sign_overdue"] == 0  # signed now: no more


async def test_sign_for_window_skips_the_weekend(app, desk, clock):
    number = await call_on(desk, clock, "2026-11-20", sign=False)  # Friday: sign by the end of Monday
    for when in (at("2026-11-21", 9), at("2026-11-22", 9), at("2026-11-23", 23, 59)):
        assert (await scan_at(app, clock, when))["sign_overdue"] == 0
    assert (await scan_at(app, clock, at("2026-11-24", 0, 0, 1)))["sign_overdue"] == 1
    assert [r[0] for r in await records(app, "sign_overdue")] == [number]


async def test_a_ticket_without_a_department_notifies_the_hotline(app, desk, clock):
    number = await call_on(desk, clock, "2026-11-18", department=None)  # registered, waiting on the agent
    assert (await scan_at(app, clock, at("2026-11-24", 9)))["yellow"] == 1
    assert (await scan_at(app, clock, at("2026-11-26", 0, 0, 1)))["red"] == 1
    assert await notices(app) == [("staff:hotline", "ticket_yellow", {number})] + sorted([
        ("staff:hotline", "ticket_red", {number}), ("staff:supervisors", "ticket_red", {number})])
    assert await records(app, "red") == [(number, "red", date(2026, 11, 26), None)]


async def test_a_return_waiting_for_the_hotline_is_the_hotlines_card_not_the_departments(app, desk, clock):
    number = await call_on(desk, clock, "2026-11-18")
    clock.set(at("2026-11-19"))
    await desk.ok("dept-cgj", number, "return", note="不属本单位职责")  # nobody decides on it in time
    assert (await scan_at(app, clock, at("2026-11-26", 0, 0, 1)))["red"] == 1
    assert sorted(await notices(app)) == [("staff:hotline", "ticket_red", {number}),
                                          ("staff:supervisors", "ticket_red", {number})]
    assert await records(app, "red") == [(number, "red", date(2026, 11, 26), None)]
    assert await queue(desk, "dept-cgj", "department") == []  # nothing cgj can do with it
    assert await queue(desk, "dept-cgj", "overdue") == []
    assert await queue(desk, "agent01", "overdue?department=cgj") == []
    assert await queue(desk, "agent01", "overdue") == [number]  # the hotline's to decide
    assert number in await queue(desk, "agent01", "new")
    kpis = {k["department"]: k for k in await (await desk.get("super01", "/kpis")).json()}
    assert kpis["cgj"]["open_overdue"] == 0
    clock.set(at("2026-11-26", 10))
    await desk.ok("agent01", number, "refuse_return", note="属于本单位职责，请办理")
    assert (await scan_at(app, clock, at("2026-11-27", 9)))["red"] == 1  # cgj's again: the repeat is theirs
    assert (await notices(app))[-2:] == sorted([("staff:cgj", "ticket_red", {number}),
                                                ("staff:supervisors", "ticket_red", {number})])


async def test_a_supervisor_chases_a_ticket_once_a_day_and_its_holder_hears_of_it(app, desk, clock):
    number = await call_on(desk, clock, "2026-11-18")
    await scan_at(app, clock, at("2026-11-26", 0, 0, 1))  # overdue: the red card
    clock.set(at("2026-11-26", 9))
    offered = [a["name"] for a in (await desk.ticket("super01", number))["actions"]]
    assert offered == ["urge"]
    no_note = await desk.act("super01", number, "urge")
    assert (await no_note.json())["error"]["code"] == "note_required"
    urged = await desk.ok("super01", number, "urge", note="已超期，请今日内答复")
    assert urged["state"] == "signed"
    assert await records(app, "urge") == [(number, "urge", date(2026, 11, 26), "cgj")]
    assert (await notices(app))[-1] == ("staff:cgj", "ticket_urge", {number})
    again = await desk.act("super01", number, "urge", note="再催")
    assert (again.status, (await again.json())["error"]["code"]) == (409, "already_urged_today")
    assert (await (await desk.act("agent01", number, "urge", note="催")).json())["error"]["code"] == \
        "action_not_allowed_for_role"
    clock.set(at("2026-11-27", 9))
    await desk.ok("super01", number, "urge", note="仍未答复，请说明原因")  # the next day, again
    await desk.ok("dept-cgj", number, "reply", reply="已处理，答复迟了，致歉。")
    late = await desk.act("super01", number, "urge", note="催")
    assert (await late.json())["error"]["code"] == "action_not_allowed_in_state"  # answered: nothing to chase
    listed = await (await desk.get("super01", "/supervisions")).json()
    assert [r["kind"] for r in listed if r["ticket_no"] == number].count("urge") == 2


async def test_a_supervisors_note_on_an_anonymous_ticket_reaches_the_department_masked(app, desk, clock):
    clock.set(at("2026-11-18"))
    number = (await desk.call(anonymous=True))["number"]
    await desk.ok("agent01", number, "dispatch", department="cgj")
    await desk.ok("super01", number, "urge", note="来电人13912345678多次催问，请尽快联系")
    async with transaction(app) as session:
        told = await session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "ticket_urge"))
    assert "13912345678" not in told.data["事项"] and "139****5678" in told.data["事项"]


async def test_an_approved_extension_drops_the_card_and_the_next_scan_does_not_raise_it(app, desk, clock):
    number = await call_on(desk, clock, "2026-11-18")
    await scan_at(app, clock, at("2026-11-24", 9))
    assert await card(desk, number) == "yellow"
    clock.set(at("2026-11-24", 10))
    await desk.ok("dept-cgj", number, "request_extension", days=3, note="需现场测量。")
    approved = await desk.ok("agent01", number, "approve_extension")
    # 8 working days after 11-18: 11-19, 11-20, 11-23..11-27 (3-7), 11-30 (8): 4 left after 11-24
    assert approved["deadline"]["due_date"] == "2026-11-30"
    assert approved["card"] == "none"
    before = len(await notices(app))
    for when in (at("2026-11-24", 11), at("2026-11-25", 9), at("2026-11-26", 9)):
        counts = await scan_at(app, clock, when)
        assert counts["yellow"] == counts["red"] == 0
    assert await card(desk, number) == "none"
    assert len(await notices(app)) == before


async def test_replied_tickets_never_get_cards(app, desk, clock):
    answered = await call_on(desk, clock, "2026-11-18")
    clock.set(at("2026-11-20"))
    await desk.ok("dept-cgj", answered, "reply", reply="路灯已修复。")
    late = await call_on(desk, clock, "2026-11-18")
    await scan_at(app, clock, at("2026-11-26", 0, 0, 1))
    assert await card(desk, late) == "red"
    clock.set(at("2026-11-26", 10))
    replied = await desk.ok("dept-cgj", late, "reply", reply="路灯已修复，答复迟了，致歉。")
    assert replied["card"] == "none"  # answered: the card goes
    for when in (at("2026-11-27", 9), at("2026-11-30", 9)):
        counts = await scan_at(app, clock, when)
        assert counts["yellow"] == counts["red"] == 0  # no repeat for an answered ticket
    assert await card(desk, answered) == "none" and await card(desk, late) == "none"
    assert {n for _, _, numbers in await notices(app) for n in numbers} == {late}  # only the day it was open


# --- the console's lists ------------------------------------------------------------------------


async def queue(desk: Desk, who: str, path: str) -> list[str]:
    response = await desk.get(who, f"/queues/{path}")
    assert response.status == 200, await response.text()
    return [t["number"] for t in (await response.json())["tickets"]]


async def test_queues_show_overdue_and_due_soon_and_a_department_sees_only_its_own(desk, clock):
    overdue_cgj = await call_on(desk, clock, "2026-11-16")  # due Mon 11-23
    soon_cgj = await call_on(desk, clock, "2026-11-18")  # due Wed 11-25
    soon_zjj = await call_on(desk, clock, "2026-11-18", "zjj")
    waiting = await call_on(desk, clock, "2026-11-18", department=None)  # due 11-25, no department yet
    later_cgj = await call_on(desk, clock, "2026-11-20")  # due Fri 11-27
    clock.set(at("2026-11-24"))  # Tuesday: 11-25 is the next working day
    assert await queue(desk, "agent01", "overdue") == [overdue_cgj]
    assert set(await queue(desk, "agent01", "due_soon")) == {soon_cgj, soon_zjj, waiting}
    assert await queue(desk, "agent01", "due_soon?department=cgj") == [soon_cgj]
    assert await queue(desk, "agent01", "new") == [waiting]
    assert await queue(desk, "dept-cgj", "due_soon") == [soon_cgj]
    assert await queue(desk, "dept-cgj", "overdue") == [overdue_cgj]
    assert await queue(desk, "dept-cgj", "due_soon?department=zjj") == [soon_cgj]  # cannot look elsewhere
    assert await queue(desk, "dept-cgj", "department") == [overdue_cgj, soon_cgj, later_cgj]  # by deadline
    assert await queue(desk, "dept-zjj", "overdue") == []
    assert (await desk.get("dept-cgj", "/queues/new")).status == 403


async def test_a_department_finds_the_open_tickets_it_assists_on(desk, clock):
    clock.set(at("2026-11-18"))
    assisted = (await desk.call())["number"]
    await desk.ok("agent01", assisted, "dispatch", department="cgj", assist_departments=["zjj"])
    led = await call_on(desk, clock, "2026-11-18", "zjj")
    elsewhere = (await desk.call())["number"]
    await desk.ok("agent01", elsewhere, "dispatch", department="cgj", assist_departments=["jtj"])
    assert await queue(desk, "dept-zjj", "assisting") == [assisted]
    assert await queue(desk, "dept-zjj", "department") == [led]
    assert await queue(desk, "agent01", "assisting?department=zjj") == [assisted]
    response = await desk.get("agent01", "/queues/assisting")
    assert (await response.json())["error"]["code"] == "department_required"
    await desk.ok("dept-cgj", assisted, "sign")
    await desk.ok("dept-cgj", assisted, "reply", reply="已处理。")
    assert await queue(desk, "dept-zjj", "assisting") == []  # answered: nothing left to assist


async def test_supervisors_see_the_red_record_and_a_department_only_its_own(app, desk, clock):
    number = await call_on(desk, clock, "2026-11-18")
    await scan_at(app, clock, at("2026-11-26", 0, 0, 1))
    response = await desk.get("super01", "/supervisions")
    assert response.status == 200, await response.text()
    red = [r for r in await response.json() if r["kind"] == "red"]
    assert [(r["ticket_no"], r["raised_on"], r["department"]) for r in red] == [(number, "2026-11-26", "cgj")]
    assert red[0]["department_name"]
    assert await (await desk.get("dept-cgj", "/supervisions")).json() != []
    assert await (await desk.get("dept-zjj", "/supervisions")).json() == []


async def test_kpis_per_department_from_replies_deadlines_and_ratings(hotline_client, app, desk, alice, clock):
    async def dispatched(number: str, department: str) -> None:
        await desk.ok("agent01", number, "dispatch", department=department)
        await desk.ok(f"dept-{department}", number, "sign")

    async def reply(day: str, number: str, department: str) -> None:
        clock.set(at(day))
        await desk.ok(f"dept-{department}", number, "reply", reply="已处理。")

    async def rate(number: str, level: str) -> None:
        response = await hotline_client.post(f"/api/v1/tickets/{number}/rating", headers=alice,
                                             json={"level": level, "comment": "评价。"})
        assert response.status == 200, await response.text()

    clock.set(at("2026-11-18"))  # every ticket but the last is accepted Wed 11-18, due Wed 11-25
    prompt = (await file_ticket(hotline_client, alice))["number"]
    late = (await file_ticket(hotline_client, alice))["number"]
    for number in (prompt, late):
        await dispatched(number, "cgj")
    still_open = (await desk.call())["number"]
    await dispatched(still_open, "cgj")
    other = (await desk.call())["number"]
    await dispatched(other, "zjj")
    await reply("2026-11-19", other, "zjj")  # 1 working day
    await reply("2026-11-20", prompt, "cgj")  # 11-19, 11-20: 2 working days, in time
    await reply("2026-11-26", late, "cgj")  # 11-19, 11-20, 11-23..11-26: 6 working days, late
    recent = (await desk.call())["number"]  # accepted Thu 11-26, due Thu 12-03: open, in time
    await dispatched(recent, "cgj")
    clock.set(at("2026-11-27"))
    await rate(prompt, "满意")
    await rate(late, "不满意")

    response = await desk.get("super01", "/kpis")
    assert response.status == 200, await response.text()
    kpis = {k["department"]: k for k in await response.json()}
    assert set(kpis) == {"cgj", "zjj"}
    cgj, zjj = kpis["cgj"], kpis["zjj"]
    # cgj: 4 led (prompt, late, still_open, recent); 2 replied; 1 in time; still_open is late and open
    assert (cgj["assigned"], cgj["replied"], cgj["on_time"], cgj["open_overdue"]) == (4, 2, 1, 1)
    assert cgj["reply_rate"] == 0.5
    assert cgj["on_time_rate"] == pytest.approx(1 / 3, abs=1e-4)  # in time ÷ (replied + open and late)
    assert cgj["satisfaction_rate"] == 0.5  # 满意 and 不满意
    assert cgj["average_reply_working_days"] == 4.0  # (2 + 6) / 2
    assert (zjj["assigned"], zjj["replied"], zjj["on_time"], zjj["open_overdue"]) == (1, 1, 1, 0)
    assert (zjj["reply_rate"], zjj["on_time_rate"]) == (1.0, 1.0)
    assert zjj["satisfaction_rate"] is None  # nobody rated it
    assert zjj["average_reply_working_days"] == 1.0
    assert (await desk.get("dept-cgj", "/kpis")).status == 403

    # The bad rating judged reasonable, the late ticket is redone: its last round's reply no longer counts.
    await desk.ok("agent01", late, "judge_rating", reasonable=True)
    await desk.ok("agent01", late, "reopen", note="合理差评，重办")
    cgj = {k["department"]: k for k in await (await desk.get("super01", "/kpis")).json()}["cgj"]
    assert (cgj["replied"], cgj["on_time"], cgj["open_overdue"]) == (1, 1, 1)
    assert cgj["on_time_rate"] == 0.5 and cgj["average_reply_working_days"] == 2.0
