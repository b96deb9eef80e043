"""Properties that hold for every input, checked on inputs hypothesis generates (derandomized,
so every run tries the same ones): the working-day calendar and its override file, identifier
checksums and masks, and the 12345 ticket state machine driven by random roles against the
database.
"""

from __future__ import annotations

import re
import tempfile
from datetime import date, datetime, time, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from hypothesis import HealthCheck, Phase, assume, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import select

from core import ratings
from core.calendar import WorkingCalendar
from core.calendar_overrides import CalendarOverrides
from core.clock import SHANGHAI
from core.db import transaction
from core.errors import AppError
from core import identity
from core.identity import InvalidIdentifier, mask_id_number, mask_personal_data, validate_id_number, validate_uscc
from hotline import catalogue, rules, tickets
from hotline.models import Ticket, TicketEvent, TicketRating
from hotline.service import context
from hotline.tickets import Actor, NewTicket
from tests.identity_numbers import ID_ALPHABET, USCC_ALPHABET
from tests.personal_space_helpers import ALICE, BOB
from tests.row_counts import count_rows
from tests.strategies import id_numbers, usccs

PURE = settings(max_examples=200, derandomize=True, database=None, deadline=None)


def _substituted(value: str, alphabet: str, data) -> str:
    i = data.draw(st.integers(0, len(value) - 1), label="position")
    other = data.draw(st.sampled_from([c for c in alphabet if c != value[i]]), label="replacement")
    return value[:i] + other + value[i + 1:]


def _transposed(value: str, data) -> str:
    positions = [i for i in range(len(value) - 1) if value[i] != value[i + 1]]
    assume(positions)
    i = data.draw(st.sampled_from(positions), label="position")
    return value[:i] + value[i + 1] + value[i] + value[i + 2:]


# --- identifiers -------------------------------------------------------------------------------


IDENTIFIERS = pytest.mark.parametrize(("numbers", "validate", "alphabet"), [
    (id_numbers(), validate_id_number, ID_ALPHABET), (usccs(), validate_uscc, USCC_ALPHABET),
], ids=["身份证号", "统一社会信用代码"])


@IDENTIFIERS
@PURE
@given(data=st.data())
def test_every_well_formed_identifier_passes_and_is_normalised(numbers, validate, alphabet, data):
    number = data.draw(numbers, label="number")
    assert validate(number) == number
    assert validate(f" {number.lower()} ") == number


@IDENTIFIERS
@PURE
@given(data=st.data())
def test_any_single_character_change_of_an_identifier_is_refused(numbers, validate, alphabet, data):
    with pytest.raises(InvalidIdentifier):
        validate(_substituted(data.draw(numbers, label="number"), alphabet, data))


@IDENTIFIERS
@PURE
@given(data=st.data())
def test_swapping_two_adjacent_different_characters_of_an_identifier_is_refused(numbers, validate, alphabet, data):
    with pytest.raises(InvalidIdentifier):
        validate(_transposed(data.draw(numbers, label="number"), data))


chinese = st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), min_size=1, max_size=8)
phones = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)


@PURE
@given(number=id_numbers(), phone=phones, lower=st.booleans(), words=st.tuples(chinese, chinese, chinese))
def test_a_masked_id_or_phone_number_never_shows_in_full(number, phone, lower, words):
    assert mask_id_number(number) == number[:6] + "********" + number[-4:]  # 420704********1234
    written = number.lower() if lower else number
    masked = mask_personal_data(f"{words[0]}{written}{words[1]}{phone}{words[2]}")
    assert written not in masked and number not in masked and phone not in masked
    assert masked == f"{words[0]}{written[:6]}********{written[-4:]}{words[1]}{phone[:3]}****{phone[-4:]}{words[2]}"


_near_numbers = st.text(alphabet="0123456789０１３５８９-－ 　+＋86Xxｘ甲号", max_size=12)
_spaced_phones = st.from_regex(r"(\+86[- ]?)?1[3-9][0-9][- ]?[0-9]{4}[- ]?[0-9]{4}", fullmatch=True)


@PURE
@given(text=st.lists(st.one_of(_near_numbers, phones, _spaced_phones, id_numbers()), max_size=5).map("".join))
def test_the_quick_look_for_numbers_never_changes_what_is_masked(text):
    """mask_personal_data skips text with no run of eleven digits and separators: whatever the
    text, its answer is the full masking's."""
    assert mask_personal_data(text) == identity._mask_numbers(text)  # noqa: SLF001 - the slow path is the reference


# --- the working-day calendar ------------------------------------------------------------------

CALENDAR = WorkingCalendar()
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2095, 12, 31))
counts = st.integers(min_value=0, max_value=300)


@PURE
@given(start=days, n=counts, more=st.integers(1, 300))
def test_more_working_days_always_end_later(start, n, more):
    assert CALENDAR.add_working_days(start, n) < CALENDAR.add_working_days(start, n + more)


@PURE
@given(first=days, later_by=st.integers(0, 400), n=counts)
def test_a_later_start_never_ends_earlier(first, later_by, n):
    assert CALENDAR.add_working_days(first, n) <= CALENDAR.add_working_days(first + timedelta(days=later_by), n)


@PURE
@given(start=days, a=counts, b=counts)
def test_adding_a_then_b_working_days_is_adding_a_plus_b(start, a, b):
    assert CALENDAR.add_working_days(CALENDAR.add_working_days(start, a), b) == CALENDAR.add_working_days(start, a + b)


@PURE
@given(accepted=days, n=st.integers(0, 40))
def test_the_deadline_is_the_end_of_the_nth_working_day_after_acceptance(accepted, n):
    result = CALENDAR.deadline(accepted, n)
    due = result.due_date
    after = [accepted + timedelta(days=i) for i in range(1, (due - accepted).days + 1)]  # acceptance day not counted
    assert sum(CALENDAR.is_working_day(d) for d in after) == n
    assert n == 0 or CALENDAR.is_working_day(due)
    assert result.deadline == datetime.combine(due, time(23, 59, 59), SHANGHAI)
    assert result.provisional == any(not CALENDAR.is_published(d.year) for d in after)
    assert result.calendar_version == CALENDAR.version


def _spans(dates: list[date], as_ranges: bool) -> list[dict]:
    """The dates as override entries: one per date, or consecutive dates joined into ranges."""
    if not as_ranges:
        return [{"date": d.isoformat(), "name": "调整"} for d in dates]
    runs: list[list[date]] = []
    for d in sorted(dates):
        if runs and d - runs[-1][-1] == timedelta(days=1):
            runs[-1].append(d)
        else:
            runs.append([d])
    return [{"from": r[0].isoformat(), "to": r[-1].isoformat(), "name": "调整"} for r in runs]


def _load(entry: dict) -> WorkingCalendar:
    """The calendar as a running service loads it: from an override file on disk."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "calendar_overrides.yaml"
        path.write_text(yaml.safe_dump({"years": entry}, allow_unicode=True), encoding="utf-8")
        return WorkingCalendar.load(path)


YEAR_2027 = [date(2027, 1, 1) + timedelta(days=i) for i in range(365)]


@st.composite
def schedules(draw) -> tuple[list[date], list[date]]:
    """Days off anywhere in 2027, make-up working days on its remaining weekends."""
    off = draw(st.lists(st.sampled_from(YEAR_2027), max_size=25, unique=True))
    weekends = [d for d in YEAR_2027 if d.weekday() >= 5 and d not in off]
    worked = draw(st.lists(st.sampled_from(weekends), max_size=6, unique=True))
    return off, worked


@settings(max_examples=30, derandomize=True, database=None, deadline=None)
@given(schedule=schedules())
def test_an_announced_year_in_the_override_file_is_the_whole_schedule_of_that_year(schedule):
    off, worked = schedule
    entry = {"holidays": _spans(off, as_ranges=False), "workdays": _spans(worked, as_ranges=False)}
    calendar = _load({2027: entry})
    for day in YEAR_2027:
        assert calendar.is_working_day(day) == (day in worked or (day.weekday() < 5 and day not in off)), day
    assert calendar.is_published(2027)
    assert calendar.deadline(date(2026, 12, 31), 20).provisional is False
    written_as_ranges = _load({2027: {"holidays": _spans(off, as_ranges=True), "workdays": entry["workdays"]}})
    assert written_as_ranges.version == calendar.version != CALENDAR.version
    assert [written_as_ranges.is_working_day(d) for d in YEAR_2027] == [calendar.is_working_day(d) for d in YEAR_2027]


YEAR_2026 = [date(2026, 1, 1) + timedelta(days=i) for i in range(365)]


@settings(max_examples=30, derandomize=True, database=None, deadline=None)
@given(changed=st.lists(st.sampled_from(YEAR_2026), min_size=1, max_size=12, unique=True))
def test_an_override_of_a_published_year_changes_only_the_days_it_lists(changed):
    off = [d for d in changed if CALENDAR.is_working_day(d)]
    worked = [d for d in changed if not CALENDAR.is_working_day(d)]
    calendar = WorkingCalendar(CalendarOverrides.model_validate(
        {"years": {2026: {"holidays": _spans(off, False), "workdays": _spans(worked, False)}}}))
    for day in YEAR_2026:
        assert calendar.is_working_day(day) == (CALENDAR.is_working_day(day) != (day in changed)), day
    assert calendar.version != CALENDAR.version


# --- the 12345 ticket state machine ------------------------------------------------------------

DEPARTMENTS = sorted(catalogue.departments())
CITIZEN = Actor("citizen", ALICE["id_number"], ALICE["name"])
STRANGER = Actor("citizen", BOB["id_number"], BOB["name"])
AGENT = Actor("agent", "agent01", "王芳")
SUPERVISOR = Actor("supervisor", "super01", "李强")
WHO = ("agent", "supervisor", "lead", "assist", "other_department", "citizen", "stranger")
# What moves the due date, and how (PRODUCT.md §5: 改派 keeps the clock, an extension adds, 重办 restarts).
MOVES_DUE_LATER = {"classify", "approve_extension"}  # upgrading to difficult; an approved extension
RESTARTS_CLOCK = {"reopen"}

# Mostly what each action needs, sometimes not: every field is there, each action reads its own.
payloads = st.fixed_dictionaries({
    "note": st.sampled_from(["已核实情况", "请协助处理", "回访：群众表示满意", "  "]),
    "department": st.sampled_from([*DEPARTMENTS, "nowhere"]),
    "reply": st.sampled_from(["已安排人员现场处理并完成整改。", "已电话答复并说明政策依据。", ""]),
    "days": st.sampled_from([1, 3, 10, 0, 11, True]),
    "reasonable": st.booleans(),
    "level": st.sampled_from([*ratings.LEVELS, "还行"]),
}, optional={
    "assist_departments": st.lists(st.sampled_from(DEPARTMENTS), max_size=2),
    "type": st.sampled_from([*rules.TYPES, "闲聊"]),
    "category": st.sampled_from(["城乡建设", "环境保护", "不存在的分类"]),
    "difficulty": st.sampled_from(["general", "difficult", "hard"]),
    "reached": st.booleans(),
})
# A step: mostly one of the moves offered to anyone now (by position, so programs get far along;
# withdrawing ends everything, so it comes only from the rest), else anyone trying any name at
# all; what they send; how many hours pass first.
steps = st.tuples(st.sampled_from([True, True, True, False]), st.integers(0, 60), st.sampled_from(WHO),
                  st.sampled_from([*rules.ACTIONS, "fly"]), payloads, st.sampled_from([0, 0, 1, 3, 20, 70]))


def _actor(who: str, ticket: Ticket) -> Actor:
    lead = ticket.lead_department or "cgj"
    assist = (ticket.assist_departments or ["zjj"])[0]
    other = next(d for d in DEPARTMENTS if d != lead and d not in (ticket.assist_departments or []))
    department = {"lead": lead, "assist": assist, "other_department": other}.get(who)
    if department:
        return Actor("department", f"dept-{department}", f"{department}承办人", department=department)
    return {"agent": AGENT, "supervisor": SUPERVISOR, "citizen": CITIZEN, "stranger": STRANGER}[who]


async def _ticket_snapshot(app, number: str) -> tuple[dict, int, list]:
    """The ticket's stored row, how many steps its history has, and its ratings."""
    async with transaction(app) as db:
        ticket = await db.get(Ticket, number)
        row = {column.key: getattr(ticket, column.key) for column in Ticket.__table__.columns}
        rated = [(r.round, r.level, r.reasonable) for r in
                   await db.scalars(select(TicketRating).where(TicketRating.ticket_no == number))]
    return row, await count_rows(app, TicketEvent, TicketEvent.ticket_no == number), rated


async def _attempt(app, number: str, move: bool, index: int, who: str, name: str, payload: dict):
    """One step in its own transaction: who, as which actor, did what, what the console offered
    them, and the error code (None: done)."""
    async with transaction(app) as db:
        ticket = await db.get(Ticket, number)
        rating = await tickets.current_rating(db, ticket)
        offers = {w: tickets.allowed_actions(_actor(w, ticket), ticket, rating) for w in WHO}
        moves = [(w, a) for w in WHO for a in offers[w] if a != "withdraw"]
        who, action = moves[index % len(moves)] if move and moves else (who, name)
        actor, offered = _actor(who, ticket), offers[who]
    try:
        async with transaction(app) as db:
            ticket = await tickets.get_ticket(db, number, actor, for_update=True)
            await tickets.perform(db, ticket, actor, action, dict(payload), context(app))
    except AppError as exc:
        assert re.fullmatch(r"[a-z_]+", exc.code) and exc.message, exc
        return who, actor, action, offered, exc.code
    return who, actor, action, offered, None


def _check_invariants(calendar: WorkingCalendar, row: dict) -> None:
    assert row["state"] in rules.STATES
    assert row["pending"] == (row["state"] in rules.PENDING)
    assert 0 <= row["extension_days"] <= rules.MAX_EXTENSION_DAYS
    assert row["extension_days"] == 0 or row["extension_state"] == "approved"
    assert row["working_days"] in (*rules.DIFFICULTY_DAYS.values(), rules.REOPEN_DAYS)
    stored = calendar.deadline(row["clock_start"], row["working_days"] + row["extension_days"])  # 时限 = days + extension
    assert (row["due_date"], row["due_at"]) == (stored.due_date, stored.deadline)  # always by the deadline rule


# Not shrunk: against the database that takes minutes; the notes tell the failing program's steps.
@pytest.mark.timeout(180)
@settings(max_examples=50, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(dispatched=st.booleans(), program=st.lists(steps, min_size=6, max_size=20))
async def test_random_actions_by_random_roles_move_a_ticket_only_along_the_rules(client, clock, dispatched, program):
    app = client.server.app
    clock.set(datetime(2026, 11, 18, 9, 30, tzinfo=SHANGHAI))
    async with transaction(app) as db:
        ticket = await tickets.register(db, NewTicket(type="投诉", content="小区路灯不亮", channel="miniapp",
                                                      citizen_id=CITIZEN.id, contact_phone=ALICE["phone"]),
                                        AGENT, context(app))
        if dispatched:  # half the programs start at the department, where most of the rules are
            await tickets.perform(db, ticket, AGENT, "dispatch", {"department": "cgj"}, context(app))
        number = ticket.number
    calendar = context(app).calendar
    for move, index, who, name, payload, hours in program:
        clock.advance(timedelta(hours=hours))
        before, events_before, ratings_before = await _ticket_snapshot(app, number)
        who, actor, action, offered, code = await _attempt(app, number, move, index, who, name, payload)
        after, events_after, ratings_after = await _ticket_snapshot(app, number)
        spec = rules.ACTIONS.get(action)
        note(f"{clock.now():%m-%d %H:%M} {before['state']}: {who} {action} {payload} -> {code or after['state']}")
        if code is not None:
            assert (after, events_after, ratings_after) == (before, events_before, ratings_before), (action, code)
            again = await _attempt(app, number, False, 0, who, action, payload)
            assert again[-1] == code  # the same refusal, the same code
            if spec is None:
                assert code in ("unknown_action", "ticket_not_found")
            elif action in offered:
                assert code not in ("action_not_allowed_for_role", "action_not_allowed_in_state")
            elif not spec.parties & tickets.parties(actor, SimpleNamespace(**before)):
                assert code in ("action_not_allowed_for_role", "ticket_not_found")
            elif before["state"] not in spec.from_states:
                assert code == "action_not_allowed_in_state"
            continue
        assert action in offered  # nothing happens that the console would not have offered
        assert before["state"] in spec.from_states
        if action == "refuse_return":
            assert after["state"] == (before["state_before_return"] or "dispatched")
        else:
            assert after["state"] == (spec.to_state or before["state"])
        assert events_after == events_before + 1
        if action in RESTARTS_CLOCK:
            assert after["clock_start"] == clock.today() and after["reopen_count"] == before["reopen_count"] + 1
        elif action in MOVES_DUE_LATER:
            assert after["due_at"] >= before["due_at"]
        else:
            assert (after["due_date"], after["due_at"]) == (before["due_date"], before["due_at"]), action
        if before["extension_state"] in ("approved", "refused") and action != "reopen":
            assert after["extension_state"] == before["extension_state"]  # one extension request, decided once
        assert len({rating[0] for rating in ratings_after}) == len(ratings_after)  # one rating per answer
        _check_invariants(calendar, after)
