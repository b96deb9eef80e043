"""12345 deadlines over HTTP (PRODUCT.md §5): the acceptance day is not counted, the deadline is
23:59:59 Shanghai of the Nth working day after it, holidays and make-up working days follow the
State Council schedule, a year not yet published gives a provisional (predicted) date that a
calendar update recomputes, an extension counts from the original clock and 重办 starts a new one.

Every expected date below is counted by hand in the comment beside it.
2026 (published): 春节 02-15..02-23 off, Saturdays 02-14 and 02-28 worked; 中秋 09-25 off;
国庆 10-01..10-07 off, Sunday 09-20 and Saturday 10-10 worked. 2027 is not published: predicted,
元旦 is Friday 2027-01-01 alone (no make-up days can be predicted).
"""

from __future__ import annotations

from datetime import date

from core.calendar import WorkingCalendar
from core.calendar_service import refresh_calendar
from hotline import rules
from tests.hotline_helpers import (  # noqa: F401 - fixtures
    Desk, alice, as_citizen, at, desk, file_ticket, hotline_client, stored,
)

FORECAST = "预测"  # the promise says the date rests on the predicted holidays



def end_of(day: str) -> str:
    return f"{day}T23:59:59+08:00"


async def accepted_on(desk: Desk, clock, day: str, **body) -> dict:
    """A phone ticket accepted on `day`."""
    clock.set(at(day))
    return await desk.call(**body)


# --- the rule over holidays and make-up days --------------------------------------------------


async def due_dates(desk: Desk, clock, cases: dict[tuple[str, str], str]) -> dict[tuple[str, str], tuple]:
    """(accepted, difficulty) → (due date, due time, provisional, working days) as the console shows them."""
    found = {}
    for accepted, difficulty in cases:
        deadline = (await accepted_on(desk, clock, accepted, difficulty=difficulty))["deadline"]
        found[accepted, difficulty] = (deadline["due_date"], deadline["due_at"], deadline["provisional"],
                                       deadline["working_days"])
    return found


def expected(cases: dict[tuple[str, str], str]) -> dict[tuple[str, str], tuple]:
    return {(accepted, difficulty): (due, end_of(due), False, {"general": 5, "difficult": 15}[difficulty])
            for (accepted, difficulty), due in cases.items()}


async def test_due_on_the_nth_working_day_after_acceptance_around_national_day(desk, clock):
    cases = {
        # 09-30 (1); 10-01..10-07 off; 10-08 (2), 10-09 (3), Sat 10-10 make-up (4), 10-12 (5)
        ("2026-09-29", "general"): "2026-10-12",
        # 10-08 Thu (1), 10-09 Fri (2), Sat 10-10 make-up (3), 10-12 Mon (4), 10-13 Tue (5)
        ("2026-09-30", "general"): "2026-10-13",
        # accepted on a holiday: counting starts at the first working day after it, as from 09-30
        ("2026-10-03", "general"): "2026-10-13",
        # 10-08 (1), 10-09 (2), 10-10 (3), 10-12..10-16 (4-8), 10-19..10-23 (9-13), 10-26 (14), 10-27 (15)
        ("2026-09-30", "difficult"): "2026-10-27",
        # Sun 09-20 make-up (1), 09-21..09-24 (2-5), 中秋 09-25 off, 09-28..09-30 (6-8), 10-08 (9),
        # 10-09 (10), Sat 10-10 (11), 10-12..10-15 (12-15)
        ("2026-09-18", "difficult"): "2026-10-15",
    }
    assert await due_dates(desk, clock, cases) == expected(cases)


async def test_due_on_the_nth_working_day_after_acceptance_around_spring_festival(desk, clock):
    cases = {
        # 02-13 (1), Sat 02-14 make-up (2); 02-15..02-23 off; 02-24 (3), 02-25 (4), 02-26 (5)
        ("2026-02-12", "general"): "2026-02-26",
        # Sat 02-14 make-up (1); 02-24 (2), 02-25 (3), 02-26 (4), 02-27 (5)
        ("2026-02-13", "general"): "2026-02-27",
        # accepted on a holiday: 02-24 (1), 02-25 (2), 02-26 (3), 02-27 (4), Sat 02-28 make-up (5)
        ("2026-02-17", "general"): "2026-02-28",
        # 02-25 (1), 02-26 (2), 02-27 (3), Sat 02-28 make-up (4), Mon 03-02 (5)
        ("2026-02-24", "general"): "2026-03-02",
        # 02-14 (1), 02-24..02-27 (2-5), 02-28 (6), 03-02..03-06 (7-11), 03-09..03-12 (12-15)
        ("2026-02-13", "difficult"): "2026-03-12",
    }
    assert await due_dates(desk, clock, cases) == expected(cases)


async def test_a_mini_program_ticket_gets_the_same_deadline_and_promise(hotline_client, alice, clock):
    clock.set(at("2026-09-30", 20))
    ticket = await file_ticket(hotline_client, alice)
    # 10-08 (1), 10-09 (2), Sat 10-10 (3), 10-12 (4), 10-13 (5); late in the evening changes nothing
    assert ticket["deadline"]["due_date"] == "2026-10-13"
    assert ticket["deadline"]["due_at"] == end_of("2026-10-13")
    assert ticket["deadline"]["provisional"] is False
    assert ticket["deadline"]["promise"] == "按规定将在5个工作日内，即10月13日前答复"


# --- into 2027, whose schedule is not yet published --------------------------------------------


async def test_a_deadline_reaching_into_unpublished_2027_is_provisional_with_the_predicted_date(desk, clock):
    # 12-29 (1), 12-30 (2), 12-31 (3); predicted 元旦 Fri 01-01 off, weekend; 01-04 (4), 01-05 (5)
    general = (await accepted_on(desk, clock, "2026-12-28"))["deadline"]
    assert general["due_date"] == "2027-01-05" and general["due_at"] == end_of("2027-01-05")
    assert general["provisional"] is True
    assert general["promise"].startswith("按规定将在5个工作日内，即")
    assert "1月5日前答复" in general["promise"] and FORECAST in general["promise"]
    # ... 01-04..01-08 (4-8), 01-11..01-15 (9-13), 01-18 (14), 01-19 (15)
    difficult = (await accepted_on(desk, clock, "2026-12-28", difficulty="difficult"))["deadline"]
    assert difficult["due_date"] == "2027-01-19" and difficult["provisional"] is True
    assert difficult["promise"].startswith("按规定将在15个工作日内，即")
    assert "1月19日前答复" in difficult["promise"] and FORECAST in difficult["promise"]


async def test_a_deadline_ending_within_2026_is_not_provisional(desk, clock):
    # 12-25 (1), 12-28 (2), 12-29 (3), 12-30 (4), 12-31 (5): the last day of the published year
    deadline = (await accepted_on(desk, clock, "2026-12-24"))["deadline"]
    assert deadline["due_date"] == "2026-12-31" and deadline["provisional"] is False
    assert deadline["promise"] == "按规定将在5个工作日内，即12月31日前答复"
    assert FORECAST not in deadline["promise"]


async def test_the_citizen_is_told_when_the_date_is_a_forecast(hotline_client, alice, clock):
    clock.set(at("2026-12-28"))
    ticket = await file_ticket(hotline_client, alice)
    assert ticket["deadline"]["due_date"] == "2027-01-05" and ticket["deadline"]["provisional"] is True
    assert ticket["deadline"]["promise"].startswith("按规定将在5个工作日内，即")
    assert FORECAST in ticket["deadline"]["promise"]


# --- what the detail says as days pass ----------------------------------------------------------


async def test_remaining_working_days_count_only_working_days_after_today(desk, clock):
    number = (await accepted_on(desk, clock, "2026-11-18"))["number"]  # due Wed 11-25
    expected = {
        "2026-11-18": 5,  # acceptance day: 11-19, 11-20, 11-23, 11-24, 11-25
        "2026-11-20": 3,  # Friday: 11-23, 11-24, 11-25
        "2026-11-21": 3,  # Saturday: the weekend takes nothing off
        "2026-11-22": 3,  # Sunday
        "2026-11-23": 2,  # Monday: 11-24, 11-25
        "2026-11-25": 0,  # the due day itself
        "2026-11-26": -1,  # one working day late
    }
    found = {}
    for today in expected:
        clock.set(at(today))
        found[today] = (await desk.ticket("agent01", number))["deadline"]["remaining_working_days"]
    assert found == expected


async def test_the_days_off_right_after_the_due_date_are_late_not_due_today(desk, clock):
    number = (await accepted_on(desk, clock, "2026-11-20"))["number"]  # Friday: 11-23..11-27, due Friday 11-27
    expected = {
        "2026-11-27": 0,  # the due day itself
        "2026-11-28": -1,  # Saturday: late, though no working day has passed since
        "2026-11-29": -1,  # Sunday
        "2026-11-30": -1,  # Monday: one working day late
        "2026-12-01": -2,  # Tuesday
    }
    found = {}
    for today in expected:
        clock.set(at(today))
        found[today] = (await desk.ticket("agent01", number))["deadline"]["remaining_working_days"]
    assert found == expected


def test_the_due_date_in_words(calendar_file):
    calendar = WorkingCalendar.load(calendar_file)
    friday = date(2026, 11, 27)
    said = {today: rules.due_text(calendar, date.fromisoformat(today), friday)
            for today in ("2026-11-24", "2026-11-27", "2026-11-28", "2026-11-30")}
    assert said == {"2026-11-24": "11月27日（还有3个工作日）", "2026-11-27": "11月27日（今天到期）",
                    "2026-11-28": "11月27日", "2026-11-30": "11月27日"}
    # 12-29, 12-30, 12-31, (predicted 元旦 01-01, weekend) 01-04, 01-05: another year is named
    assert rules.due_text(calendar, date(2026, 12, 28), date(2027, 1, 5)) == "2027年1月5日（还有5个工作日）"


# --- a calendar update ----------------------------------------------------------------------------

# The (hypothetical) published 2027 schedule makes Monday 2027-01-04 a day off as well, the
# predicted due date's neighbour: 12-29 (1), 12-30 (2), 12-31 (3), 01-05 (4), 01-06 (5).
PUBLISHED_2027 = """
years:
  2027:
    published: true
    source: 测试用安排
    holidays:
      - {from: 2027-01-01, to: 2027-01-04, name: 元旦}
"""


async def test_a_calendar_update_recomputes_the_provisional_deadlines_answered_or_not(
        hotline_client, desk, clock, calendar_file):
    app = hotline_client.server.app
    settled = (await accepted_on(desk, clock, "2026-12-18"))["number"]  # 12-21..12-25: due 12-25, published
    general = (await accepted_on(desk, clock, "2026-12-28"))["number"]
    difficult = (await accepted_on(desk, clock, "2026-12-28", difficulty="difficult"))["number"]
    answered = (await accepted_on(desk, clock, "2026-12-28"))["number"]
    await desk.ok("agent01", answered, "answer", reply="已告知路灯维修电话。")
    for number, due in ((general, "2027-01-05"), (difficult, "2027-01-19"), (answered, "2027-01-05")):
        deadline = (await desk.ticket("agent01", number))["deadline"]
        assert (deadline["due_date"], deadline["provisional"]) == (due, True)

    clock.set(at("2026-12-29"))
    calendar_file.write_text(PUBLISHED_2027, encoding="utf-8")
    await refresh_calendar(app)

    deadline = (await desk.ticket("agent01", general))["deadline"]
    assert deadline["due_date"] == "2027-01-06" and deadline["due_at"] == end_of("2027-01-06")
    assert deadline["provisional"] is False and FORECAST not in deadline["promise"]
    # 01-05..01-08 (4-7), 01-11..01-15 (8-12), 01-18 (13), 01-19 (14), 01-20 (15)
    deadline = (await desk.ticket("agent01", difficult))["deadline"]
    assert (deadline["due_date"], deadline["provisional"]) == ("2027-01-20", False)
    row = await stored(hotline_client, settled)
    assert (row.due_date, row.due_provisional) == (date(2026, 12, 25), False)
    row = await stored(hotline_client, answered)  # answered: judged in time against the real deadline
    assert (row.due_date, row.due_provisional) == (date(2027, 1, 6), False)


# --- extension and 重办 ---------------------------------------------------------------------------


async def signed_by_cgj(desk: Desk, number: str) -> None:
    await desk.ok("agent01", number, "dispatch", department="cgj")
    await desk.ok("dept-cgj", number, "sign")


async def test_an_approved_extension_counts_from_the_original_acceptance(desk, clock):
    number = (await accepted_on(desk, clock, "2026-09-30"))["number"]  # due 10-13
    await signed_by_cgj(desk, number)
    clock.set(at("2026-10-12"))
    await desk.ok("dept-cgj", number, "request_extension", days=5, note="需协调多个部门现场核查。")
    deadline = (await desk.ok("agent01", number, "approve_extension"))["deadline"]
    # 5 + 5 = 10 working days after 09-30: 10-08, 10-09, 10-10, 10-12..10-16 (4-8), 10-19 (9), 10-20 (10);
    # not 5 working days after the approval on 10-12 (that would be 10-19)
    assert deadline["due_date"] == "2026-10-20" and deadline["due_at"] == end_of("2026-10-20")
    assert deadline["working_days"] == 10
    assert deadline["promise"] == "按规定将在10个工作日内，即10月20日前答复"


async def test_a_ticket_is_upgraded_to_difficult_before_its_deadline_not_after(desk, clock):
    number = (await accepted_on(desk, clock, "2026-11-18"))["number"]  # general: due Wed 11-25
    late = (await accepted_on(desk, clock, "2026-11-18"))["number"]
    clock.set(at("2026-11-25", 23))  # the last hour of the last day
    upgraded = await desk.ok("agent01", number, "classify", difficulty="difficult")
    assert upgraded["deadline"]["due_date"] == "2026-12-09"  # 15 working days after 11-18
    clock.set(at("2026-11-26", 9))
    refused = await desk.act("agent01", late, "classify", difficulty="difficult")
    assert (refused.status, (await refused.json())["error"]["code"]) == (409, "deadline_passed")
    assert (await desk.ticket("agent01", late))["deadline"]["due_date"] == "2026-11-25"


async def test_reopening_starts_a_new_five_working_day_clock_from_the_reopen_day(hotline_client, desk, alice, clock):
    clock.set(at("2026-11-18"))
    number = (await file_ticket(hotline_client, alice))["number"]
    await desk.ok("agent01", number, "classify", difficulty="difficult")  # 15 days before the 重办
    await signed_by_cgj(desk, number)
    clock.set(at("2026-11-19"))
    await desk.ok("dept-cgj", number, "reply", reply="已责令店主安装油烟净化设备并限时经营。")
    clock.set(at("2026-11-20"))
    rated = await hotline_client.post(f"/api/v1/tickets/{number}/rating", headers=alice,
                                      json={"level": "不满意", "comment": "油烟和噪音依旧。"})
    assert rated.status == 200, await rated.text()
    await desk.ok("agent01", number, "judge_rating", reasonable=True, note="回访核实问题未解决。")
    clock.set(at("2026-11-23"))  # Monday
    reopened = await desk.ok("agent01", number, "reopen", note="重办。")
    # 5 working days after Mon 11-23, the reopen day not counted: 11-24, 11-25, 11-26, 11-27, 11-30
    assert reopened["state"] == "reopened"
    assert reopened["deadline"]["due_date"] == "2026-11-30"
    assert reopened["deadline"]["due_at"] == end_of("2026-11-30")
    assert reopened["deadline"]["working_days"] == 5
    assert reopened["deadline"]["remaining_working_days"] == 5
