"""The rules of a 12345 ticket: states, who may do what in which state, and the deadlines.

Everything here is pure (no storage), so the state machine and the deadline rule can be read,
and tested, on their own.

Deadline rule (PRODUCT.md §5): the day of acceptance is not counted; the deadline is 23:59:59
Asia/Shanghai of the Nth working day after it (N = 5 general, 15 difficult, plus an approved
extension of at most 10 working days, once). 改派 keeps the clock; 重办 starts a new one of 5
working days from the day of reopening.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from core.calendar import WorkingCalendar

TYPES = ("咨询", "求助", "投诉", "举报", "建议")
DIFFICULTY_DAYS = {"general": 5, "difficult": 15}
DIFFICULTY_LABELS = {"general": "一般", "difficult": "疑难"}
REOPEN_DAYS = 5
MAX_EXTENSION_DAYS = 10
SIGN_WITHIN = 1  # working days after dispatch: by the end of the next working day
RETURN_WITHIN = 2  # working days after dispatch
# The same values as types, so the API schemas (and their OpenAPI enums) follow the tuples above.
TicketType = Literal[TYPES]
Difficulty = Literal[tuple(DIFFICULTY_DAYS)]

STATES = {
    "registered": "已登记", "dispatched": "已派单", "signed": "已签收", "replied": "已答复",
    "callback_done": "已回访", "closed": "已办结", "returned": "已退单", "extension_requested": "延期申请中",
    "reopened": "重办", "withdrawn": "已撤回",
}
# Awaiting the reply: the deadline runs and cards may be raised.
PENDING = frozenset({"registered", "dispatched", "signed", "returned", "extension_requested", "reopened"})
ANSWERED = frozenset({"replied", "callback_done", "closed"})

AGENT, SUPERVISOR, LEAD, ASSIST, CITIZEN = "agent", "supervisor", "lead", "assist", "citizen"


@dataclass(frozen=True)
class Action:
    """One thing someone may do to a ticket: who (as which party), from which states, to which."""

    label: str  # Chinese, for people
    parties: frozenset[str]
    from_states: frozenset[str]
    to_state: str | None  # None: the state stays, or the action decides (refuse_return, reopen)


def _action(label: str, parties: set[str], from_states: set[str] | frozenset[str], to_state: str | None) -> Action:
    return Action(label, frozenset(parties), frozenset(from_states), to_state)


ACTIONS: dict[str, Action] = {
    "classify": _action("分类定级", {AGENT}, PENDING, None),
    "dispatch": _action("派单", {AGENT}, {"registered"}, "dispatched"),
    "redispatch": _action("改派", {AGENT}, {"dispatched", "signed", "returned", "reopened"}, "dispatched"),
    "answer": _action("直接答复", {AGENT}, {"registered"}, "replied"),
    "accept_return": _action("同意退单", {AGENT}, {"returned"}, "registered"),
    "refuse_return": _action("不同意退单", {AGENT}, {"returned"}, None),  # back to the state before the return
    "approve_extension": _action("同意延期", {AGENT}, {"extension_requested"}, "signed"),
    "refuse_extension": _action("不同意延期", {AGENT}, {"extension_requested"}, "signed"),
    "callback": _action("回访", {AGENT}, {"replied"}, "callback_done"),
    "close": _action("办结", {AGENT}, {"callback_done"}, "closed"),
    "judge_rating": _action("差评认定", {AGENT}, ANSWERED, None),
    "reopen": _action("重办", {AGENT}, ANSWERED, None),  # reopened; registered when the hotline had answered itself
    "sign": _action("签收", {LEAD}, {"dispatched", "reopened"}, "signed"),
    "return": _action("退单", {LEAD}, {"dispatched", "signed"}, "returned"),
    "request_extension": _action("申请延期", {LEAD}, {"signed"}, "extension_requested"),
    "reply": _action("答复", {LEAD}, {"signed", "extension_requested"}, "replied"),
    "assist_note": _action("协办意见", {ASSIST}, PENDING - {"registered"}, None),
    "urge": _action("督办", {SUPERVISOR}, PENDING, None),  # chase whoever holds it: a 督办 record and a notice
    "supplement": _action("补充信息", {CITIZEN}, PENDING, None),
    "withdraw": _action("撤回", {CITIZEN}, PENDING, "withdrawn"),
    "rate": _action("评价", {CITIZEN}, ANSWERED, None),
}
# What the citizen sees of each step; internal steps (classify, judgements, notes) stay internal.
PUBLIC_ACTIONS = frozenset({"register", "dispatch", "redispatch", "answer", "sign", "approve_extension", "reply",
                            "callback", "close", "reopen", "supplement", "withdraw", "rate"})


# --- the deadline as it stands on a given day ----------------------------------------------------


def remaining_working_days(calendar: WorkingCalendar, today: date, due_date: date) -> int:
    """Working days left after today up to the due date; after it, minus the working days late,
    at least one (a day off right after the due date is already late, not "due today")."""
    left = calendar.working_days_between(today, due_date)
    return min(left, -1) if today > due_date else left


def yellow_until(calendar: WorkingCalendar, today: date) -> date:
    """The latest due date that earns a 黄牌 today: one working day or less left, that is, due by
    the next working day. The escalation scan and the 即将到期 queue select by it."""
    return calendar.add_working_days(today, 1)


CARD_RANK = {"none": 0, "yellow": 1, "red": 2}


def card_for(calendar: WorkingCalendar, now: datetime, due_date: date, due_at: datetime) -> str:
    """黄牌 with one working day or less left, 红牌 once the deadline has passed."""
    if now > due_at:
        return "red"
    return "yellow" if due_date <= yellow_until(calendar, now.date()) else "none"


# --- the deadline in words ------------------------------------------------------------------------


def plain_date(day: date, today: date) -> str:
    """A date as people say it: 11月30日, with the year only when it is not this year."""
    text = f"{day.month}月{day.day}日"
    return text if day.year == today.year else f"{day.year}年{text}"


def promise_text(working_days: int, due_date: date, today: date, provisional: bool) -> str:
    """按规定将在5个工作日内，即11月30日前答复 (with a note when the date is a forecast)."""
    text = f"按规定将在{working_days}个工作日内，即{plain_date(due_date, today)}前答复"
    return text + "（该日期按预测的节假日安排计算，以正式公布为准）" if provisional else text


def due_text(calendar: WorkingCalendar, today: date, due_date: date) -> str:
    """The due date with what is left of it: 11月30日（还有3个工作日）, 11月30日（今天到期）, or the
    date alone once it has passed."""
    left = remaining_working_days(calendar, today, due_date)
    due = plain_date(due_date, today)
    if left > 0:
        return f"{due}（还有{left}个工作日）"
    return f"{due}（今天到期）" if left == 0 else due
