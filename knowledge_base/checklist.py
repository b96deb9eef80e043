"""The tailored checklist of a scenario (一件事): situation answers in, one merged list out.

Items are the scenario's base set, with each answered option adding or dropping items; the
materials of every included item are merged by their canonical key, so a material two items
both ask for appears once (一套材料), listing the items it serves. A material whose document
kind the caller already holds is marked 已有，免提交 (once only).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from core.errors import InvalidInput
from knowledge_base.schema import Item, Material, Question, Requirement, Scenario, Step

HELD_NOTE = "已有，免提交"
HELD_IN_PART_NOTE = "您本人的已有，其他人员的仍需提交"


@dataclass
class ChecklistMaterial:
    key: str
    name: str
    requirement: Requirement
    conditions: list[str]  # when conditional: the cases in which it is needed
    originals: int
    copies: int
    form: str
    source: str
    tolerance_allowed: bool  # 容缺受理: may be handed in after acceptance
    satisfied_by: str | None
    satisfied_in_part: bool = False  # the caller's own document is only their part of it
    for_items: list[str] = field(default_factory=list)  # item codes it serves; empty: the scenario's own
    already_held: bool = False
    held_in_part: bool = False  # the caller holds their own part; the rest is still to hand in
    note: str | None = None


@dataclass
class Checklist:
    scenario: Scenario
    items: list[Item]
    materials: list[ChecklistMaterial]
    steps: list[Step]
    unanswered: list[Question]  # applicable questions still without an answer
    answers: dict[str, str]

    @property
    def added_items(self) -> list[Item]:
        """Items the answers brought in beyond the scenario's own (whose handling its promise covers)."""
        return [i for i in self.items if i.code not in self.scenario.items]

    @property
    def promised_days(self) -> int | None:
        """The promised time for this situation: the scenario's, or longer when an item the answers
        brought in promises longer on its own (a 烟草零售许可 added to a one-day shop)."""
        if self.scenario.promised_days is None:
            return None
        return max([self.scenario.promised_days,
                    *(i.promised_days for i in self.added_items if i.promised_days is not None)])

    @property
    def visits(self) -> int:
        """Visits in person for this situation: the scenario's, or more when an added item needs more."""
        return max([self.scenario.visits, *(i.visits for i in self.added_items)])


def applicable(question: Question, answers: Mapping[str, str]) -> bool:
    """A question applies when every earlier answer it depends on was given."""
    return all(answers.get(q) == o for q, o in (question.depends_on or {}).items())


def _check_answers(scenario: Scenario, answers: Mapping[str, str]) -> None:
    questions = {q.id: q for q in scenario.questions}
    problems = []
    for qid, oid in answers.items():
        if qid not in questions:
            problems.append({"field": qid, "message": "不是本事项的情形问题"})
        elif oid not in {o.id for o in questions[qid].options}:
            valid = "、".join(f"{o.id}（{o.label}）" for o in questions[qid].options)
            problems.append({"field": qid, "message": f"没有选项 {oid}，可选：{valid}"})
        elif not applicable(questions[qid], answers):  # e.g. a later answer kept after an earlier one changed
            asked_when = "、".join(f"{q}={o}" for q, o in (questions[qid].depends_on or {}).items())
            problems.append({"field": qid, "message": f"只在 {asked_when} 时才问，按您的其他回答不适用"})
    if problems:
        raise InvalidInput("情形回答有误：" + "；".join(f"{p['field']} {p['message']}" for p in problems),
                           code="invalid_answer", details=problems)


def _merge(into: ChecklistMaterial | None, material: Material, item_code: str | None) -> ChecklistMaterial:
    if into is None:
        into = ChecklistMaterial(
            key=material.key, name=material.name, requirement=material.requirement,
            conditions=[material.condition] if material.condition else [], originals=material.originals,
            copies=material.copies, form=material.form, source=material.source,
            tolerance_allowed=material.tolerance_allowed, satisfied_by=material.satisfied_by,
            satisfied_in_part=material.satisfied_in_part, note=material.note)
    else:
        # The strictest demand of the items wins: required over conditional, most copies, and
        # 容缺 only if every item allows it.
        if material.requirement is Requirement.required:
            into.requirement, into.conditions = Requirement.required, []
        elif into.requirement is Requirement.conditional and material.condition not in into.conditions:
            into.conditions.append(material.condition)
        into.originals = max(into.originals, material.originals)
        into.copies = max(into.copies, material.copies)
        into.tolerance_allowed = into.tolerance_allowed and material.tolerance_allowed
        if into.satisfied_by is None:
            into.satisfied_by, into.satisfied_in_part = material.satisfied_by, material.satisfied_in_part
        elif material.satisfied_by == into.satisfied_by:  # one item asking for more than the caller's own wins
            into.satisfied_in_part = into.satisfied_in_part or material.satisfied_in_part
    if item_code and item_code not in into.for_items:
        into.for_items.append(item_code)
    return into


def build_checklist(scenario: Scenario, items: Mapping[str, Item], answers: Mapping[str, str],
                    held_kinds: frozenset[str] = frozenset()) -> Checklist:
    """The checklist for `answers` (question id → option id); raises InvalidInput for a bad one.

    Unanswered questions change nothing and are listed in `unanswered`, so a caller can ask them.
    `held_kinds` are the document kinds the caller (or the enterprise they act for) holds valid.
    """
    _check_answers(scenario, answers)
    codes = list(scenario.items)
    extra = list(scenario.extra_materials)
    dropped_materials: set[str] = set()
    unanswered = []
    effective: dict[str, str] = {}
    for question in scenario.questions:
        if not applicable(question, effective):
            continue
        chosen = answers.get(question.id)
        if chosen is None:
            unanswered.append(question)
            continue
        effective[question.id] = chosen
        option = next(o for o in question.options if o.id == chosen)
        codes += [c for c in option.adds_items if c not in codes]
        codes = [c for c in codes if c not in option.drops_items]
        extra += option.adds_materials
        dropped_materials.update(option.drops_materials)
    merged: dict[str, ChecklistMaterial] = {}
    for code in codes:
        for material in items[code].materials:
            merged[material.key] = _merge(merged.get(material.key), material, code)
    for material in extra:
        merged[material.key] = _merge(merged.get(material.key), material, None)
    materials = [m for key, m in merged.items() if key not in dropped_materials]
    for m in materials:
        held = m.satisfied_by is not None and m.satisfied_by in held_kinds
        m.already_held, m.held_in_part = held and not m.satisfied_in_part, held and m.satisfied_in_part
    included = set(codes)
    steps = [s for s in scenario.steps if not s.items or included.intersection(s.items)]
    return Checklist(scenario, [items[c] for c in codes], materials, steps, unanswered, effective)
