"""办事指南: the scenario's summary, its situation questions one at a time, then the tailored
checklist with "已有，免提交" for what a bound user already holds; an item's guide directly."""

from __future__ import annotations

from bot.texts import MINIAPP, fit, numbered, choice
from bot.turn import Turn
from core import keys
from core.db import transaction
from core.errors import InvalidInput, NotFound
from intents.understanding import Target
from knowledge_base.checklist import HELD_IN_PART_NOTE, HELD_NOTE, Checklist
from knowledge_base.schema import Item, Scenario
from personal_space.documents import held_kinds

UPDATED = "这项办事指南刚刚更新，请重新告诉我您要办的事，我按新的指南为您定制清单。"


def _kb(turn: Turn):
    return turn.app[keys.KNOWLEDGE_BASE].current


async def start(turn: Turn, target: Target) -> str:
    kb = _kb(turn)
    if target.kind == "item":
        turn.conversation.leave()
        return fit(_item_text(kb.item(target.id)))
    scenario = kb.scenario(target.id)
    turn.conversation.enter("guide", "question", scenario=scenario.id, answers={})
    checklist = kb.checklist(scenario.id, {})
    return _summary(scenario, len(checklist.materials)) + "\n\n" + await _next(turn, checklist)


def _summary(scenario: Scenario, materials: int) -> str:
    lines = [f"【{scenario.name}】{scenario.summary}", f"牵头部门：{scenario.lead_department}",
             f"涉及事项：{len(scenario.items)}项；所需材料：约{materials}份（按您的情况调整）"]
    if scenario.promised_days is not None:
        lines.append(f"承诺办结：{scenario.promised_days}个工作日")
    lines.append("到现场：全程网办，无需跑腿" if scenario.visits == 0 else f"到现场：最多跑{scenario.visits}次")
    return "\n".join(lines)


async def _next(turn: Turn, checklist: Checklist) -> str:
    """Ask the next applicable question, or answer with the checklist when none is left.
    `checklist` follows the answers so far, without what the user holds: the questions do not
    depend on who asks, so only the final list is built again, and only when something is held."""
    if checklist.unanswered:
        question = checklist.unanswered[0]
        turn.conversation.data["question"] = question.id
        return f"请问：{question.text}\n{numbered([o.label for o in question.options])}\n（回复序号即可，回复“取消”退出）"
    async with transaction(turn.app) as session:
        person = await turn.person(session)
        held = frozenset() if person is None else await held_kinds(session, [("person", person.id_number)], turn.today)
    if held:
        checklist = _kb(turn).checklist(checklist.scenario.id, turn.conversation.data["answers"], held)
    turn.conversation.leave()
    return fit(_checklist_text(checklist, bound=person is not None))


async def answer(turn: Turn) -> str:
    kb = _kb(turn)
    try:
        scenario = kb.scenario(turn.conversation.data["scenario"])
        question = next(q for q in scenario.questions if q.id == turn.conversation.data["question"])
    except (NotFound, StopIteration):  # the guide was updated while this conversation waited
        turn.conversation.leave()
        return UPDATED
    labels = [o.label for o in question.options]
    picked = choice(turn.text, labels)
    if picked is None:
        return f"请回复序号 1–{len(labels)} 选择：\n{question.text}\n{numbered(labels)}"
    answers = turn.conversation.data["answers"]
    answers[question.id] = question.options[picked].id
    try:
        checklist = kb.checklist(scenario.id, answers)
    except InvalidInput:  # an earlier answer no longer fits the updated guide
        turn.conversation.leave()
        return UPDATED
    return await _next(turn, checklist)


def _checklist_text(checklist: Checklist, bound: bool) -> str:
    """Header and the once-only note first, so that what `fit` cuts is the end of a long list."""
    lines = [f"【{checklist.scenario.name}】为您定制的材料清单（共{len(checklist.materials)}份）"]
    scenario = checklist.scenario
    if (checklist.promised_days, checklist.visits) != (scenario.promised_days, scenario.visits):
        days = "" if checklist.promised_days is None else f"承诺{checklist.promised_days}个工作日办结，"
        lines.append(f"按您的情形：{days}" + ("全程网办" if checklist.visits == 0 else f"最多跑{checklist.visits}次"))
    held = sum(m.already_held for m in checklist.materials)
    if held:
        lines.append(f"其中{held}份政府已掌握，标“已有，免提交”的无需再交。")
    elif not bound:
        lines.append("实名认证后，政府已有的证照材料可免于提交。")
    for number, material in enumerate(checklist.materials, 1):
        notes = []
        if material.already_held:
            notes.append(HELD_NOTE)
        elif material.held_in_part:
            notes.append(HELD_IN_PART_NOTE)
        elif material.tolerance_allowed:
            notes.append("可容缺后补")
        if material.conditions:
            notes.append("适用于：" + "、".join(material.conditions))
        lines.append(f"{number}. {material.name}" + (f"（{'；'.join(notes)}）" if notes else ""))
    lines.append(f"办理事项：{'、'.join(item.name for item in checklist.items)}")
    lines.append(MINIAPP)
    return "\n".join(lines)


def _item_text(item: Item) -> str:
    lines = [f"【{item.name}】", f"办理部门：{item.department}"]
    if item.promised_days is not None:
        lines.append(f"承诺时限：{item.promised_days}个工作日" if item.promised_days else "即办件：当场办结")
    lines.append("全程网办，无需到现场" if item.visits == 0 else f"到现场：{item.visits}次")
    if item.materials:
        lines.append("所需材料：")
        lines += [f"{n}. {m.name}" for n, m in enumerate(item.materials, 1)]
    if item.place:
        lines.append(f"办理地点：{item.place}")
    if item.consult_phone:
        lines.append(f"咨询电话：{item.consult_phone}")
    lines.append(MINIAPP)
    return "\n".join(lines)


STEPS = {"question": answer}
