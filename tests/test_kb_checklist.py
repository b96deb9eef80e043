"""Scenario checklists: situation answers change the list; shared materials appear once."""

from __future__ import annotations

import itertools

import pytest

from core.errors import InvalidInput
from knowledge_base.catalogue import load_catalogue
from knowledge_base.checklist import applicable, build_checklist
from knowledge_base.schema import Batch, Requirement, Scenario

CATALOGUE = load_catalogue()
KEY_SCENARIOS = [sc for sc in CATALOGUE.scenarios.values() if sc.batch is Batch.key]


def signature(checklist) -> tuple:
    return (tuple(i.code for i in checklist.items),
            tuple((m.key, m.requirement, m.originals, m.copies) for m in checklist.materials))


def enabling_answers(scenario: Scenario, question) -> dict[str, str]:
    """Earlier answers that make `question` applicable, following dependencies of dependencies."""
    by_id = {q.id: q for q in scenario.questions}
    answers: dict[str, str] = {}
    pending = dict(question.depends_on or {})
    while pending:
        qid, oid = pending.popitem()
        answers[qid] = oid
        pending.update({k: v for k, v in (by_id[qid].depends_on or {}).items() if k not in answers})
    return answers


def test_there_are_nine_key_scenarios_with_the_seed_names():
    names = {sc.name for sc in KEY_SCENARIOS}
    assert len(KEY_SCENARIOS) == 9
    assert {"我要开饭店", "新生儿落户", "我要开网吧", "办理新购商品房不动产证"} <= names


@pytest.mark.parametrize("scenario", KEY_SCENARIOS, ids=lambda sc: sc.id)
def test_different_answers_give_different_checklists(scenario):
    assert len(scenario.questions) >= 3
    differing_questions = 0
    for question in scenario.questions:
        base = enabling_answers(scenario, question)
        assert applicable(question, base)
        results = {o.id: signature(build_checklist(scenario, CATALOGUE.items, {**base, question.id: o.id}))
                   for o in question.options}
        if len(set(results.values())) > 1:
            differing_questions += 1
    # Every question should matter; allow none to be decorative.
    assert differing_questions == len(scenario.questions)


@pytest.mark.parametrize("scenario", KEY_SCENARIOS, ids=lambda sc: sc.id)
def test_merged_materials_are_not_duplicated(scenario):
    for answers in all_answer_combinations(scenario, limit=200):
        checklist = build_checklist(scenario, CATALOGUE.items, answers)
        keys = [m.key for m in checklist.materials]
        names = [m.name for m in checklist.materials]
        assert len(keys) == len(set(keys)), answers
        assert len(names) == len(set(names)), answers
        included = {i.code for i in checklist.items}
        for m in checklist.materials:
            assert set(m.for_items) <= included
            wanting = [i.code for i in checklist.items if any(x.key == m.key for x in i.materials)]
            assert sorted(m.for_items) == sorted(wanting)  # one entry serves every item that asks for it


@pytest.mark.parametrize("scenario", KEY_SCENARIOS, ids=lambda sc: sc.id)
def test_each_key_scenario_really_merges_shared_materials(scenario):
    checklist = build_checklist(scenario, CATALOGUE.items, {})
    shared = [m for m in checklist.materials if len(m.for_items) >= 2]
    assert shared, "no material serves two items: 一套材料 is not exercised"


def all_answer_combinations(scenario: Scenario, limit: int):
    """Complete, consistent answer sets (respecting depends_on), at most `limit` of them."""
    options = [[o.id for o in q.options] for q in scenario.questions]
    count = 0
    for combo in itertools.product(*options):
        answers: dict[str, str] = {}
        for question, option in zip(scenario.questions, combo):
            if applicable(question, answers):
                answers[question.id] = option
        yield answers
        count += 1
        if count >= limit:
            return


def test_the_strictest_demand_wins_and_held_documents_are_marked():
    scenario = CATALOGUE.scenarios["open-restaurant"]
    checklist = build_checklist(scenario, CATALOGUE.items, {}, held_kinds=frozenset({"居民身份证", "营业执照"}))
    by_key = {m.key: m for m in checklist.materials}
    for m in checklist.materials:
        demands = [x for i in checklist.items for x in i.materials if x.key == m.key]
        if any(x.requirement is Requirement.required for x in demands):
            assert m.requirement is Requirement.required
        if demands:
            assert m.copies == max(x.copies for x in demands)
            assert m.tolerance_allowed == all(x.tolerance_allowed for x in demands)
        assert m.already_held == (m.satisfied_by in {"居民身份证", "营业执照"})
    assert any(m.already_held for m in by_key.values())
    nobody = build_checklist(scenario, CATALOGUE.items, {})
    assert not any(m.already_held for m in nobody.materials)


def test_unanswered_questions_are_listed_and_bad_answers_refused():
    scenario = CATALOGUE.scenarios["open-restaurant"]
    first = scenario.questions[0]
    partial = build_checklist(scenario, CATALOGUE.items, {first.id: first.options[0].id})
    assert first not in partial.unanswered and partial.unanswered
    with pytest.raises(InvalidInput) as caught:
        build_checklist(scenario, CATALOGUE.items, {first.id: "no-such-option"})
    assert caught.value.code == "invalid_answer" and first.options[0].id in caught.value.message
    with pytest.raises(InvalidInput):
        build_checklist(scenario, CATALOGUE.items, {"no-such-question": "x"})


def test_a_material_of_others_is_never_free_because_the_caller_holds_one_of_its_kind():
    """Staff health certificates: the caller's own is only their part; a seed supplier's licence
    is the supplier's, whatever licence the shop holds itself."""
    grocery = build_checklist(CATALOGUE.scenarios["grocery-store"], CATALOGUE.items,
                              {"entity": "individual", "food_scope": "bulk_food"}, held_kinds=frozenset({"健康证明"}))
    health = next(m for m in grocery.materials if m.name == "从业人员健康证明")
    assert (health.already_held, health.held_in_part) == (False, True)
    seeds = build_checklist(CATALOGUE.scenarios["seed-shop"], CATALOGUE.items, {},
                            held_kinds=frozenset({"农作物种子生产经营许可证"}))
    supplier = next(m for m in seeds.materials if m.key == "supplier_seed_licence")
    assert (supplier.already_held, supplier.held_in_part) == (False, False)


def test_what_an_answer_adds_can_lengthen_the_promise_but_the_scenarios_own_items_are_its_promise():
    grocery = CATALOGUE.scenarios["grocery-store"]
    base = build_checklist(grocery, CATALOGUE.items, {})
    tobacco = build_checklist(grocery, CATALOGUE.items, {"tobacco": "sell_tobacco"})
    assert (base.promised_days, base.visits) == (grocery.promised_days, grocery.visits) == (1, 1)
    assert tobacco.promised_days == CATALOGUE.items["EC-TOBACCO"].promised_days == 10  # not "1 day" any more
    company = CATALOGUE.scenarios["company-setup"]  # its seal is mailed: the scenario's 0 visits stand
    assert build_checklist(company, CATALOGUE.items, {}).visits == company.visits == 0
