"""Guidance (办事指南): search, scenarios (一件事), their tailored checklists, and items."""

from __future__ import annotations

from typing import Annotated, Literal

from aiohttp import web
from aiohttp_pydantic.oas.typing import r200, r400, r401, r404
from pydantic import BaseModel, ConfigDict, Field

from core import keys
from core.api import ErrorBody, api
from core.auth import current_session
from core.db import transaction
from core.web import json_response
from knowledge_base.checklist import HELD_IN_PART_NOTE, HELD_NOTE, Checklist
from knowledge_base.schema import FormField, Item, Question, Requirement, Scenario, Step
from personal_space.documents import held_kinds_of_caller


class GuideHit(BaseModel):
    kind: Literal["scenario", "item"]
    id: str = Field(description="场景 id 或事项编码")
    name: str
    department: str = Field(description="牵头部门或实施部门")
    score: float = Field(description="0–1，越高越确定")


class GuideSearchOut(BaseModel):
    query: str
    confident: bool = Field(description="第一条是确定的答案（而非猜测）")
    results: list[GuideHit]


class ScenarioSummary(BaseModel):
    id: str
    name: str
    aliases: list[str]
    batch: str
    service_object: str
    summary: str
    lead_department: str
    co_departments: list[str]
    item_count: int
    question_count: int
    promised_days: int | None = Field(description="承诺办结时限（工作日）")
    visits: int = Field(description="到现场次数，0 为全程网办")


class ItemBrief(BaseModel):
    code: str
    name: str
    department: str
    promised_days: int | None
    legal_days: int | None


class ScenarioDetail(ScenarioSummary):
    items: list[ItemBrief]
    questions: list[Question]
    steps: list[Step]
    form_name: str | None
    form_fields: list[FormField]


class ChecklistRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field ("answer") is an error, not a blank checklist

    answers: dict[str, str] = Field(default_factory=dict, description="情形问题 id → 选项 id；按其他回答不适用的问题不要回答（400 invalid_answer）")
    enterprise: str | None = Field(default=None, description="代企业办理时的统一社会信用代码（须为其法定代表人或经办人）")


class ChecklistMaterialOut(BaseModel):
    key: str
    name: str
    requirement: Requirement
    conditions: list[str] = Field(description="按情形需要时：在哪些情形下需要")
    originals: int
    copies: int
    form: str
    source: str
    tolerance_allowed: bool = Field(description="可容缺受理（先受理、后补交）")
    for_items: list[str] = Field(description="用于哪些事项（编码）；空表示用于本场景的联办申请")
    already_held: bool = Field(description="已有，免提交：政府已掌握该材料（登录并实名后判断）")
    held_note: str | None = Field(description="“已有，免提交”；本人的只是其中一份时为“您本人的已有，其他人员的仍需提交”")
    note: str | None


class ChecklistOut(BaseModel):
    scenario_id: str
    name: str
    answers: dict[str, str]
    unanswered: list[Question] = Field(description="尚未回答、可进一步缩小清单的情形问题")
    items: list[ItemBrief]
    materials: list[ChecklistMaterialOut]
    steps: list[Step]
    promised_days: int | None = Field(description="按所答情形的承诺办结时限（工作日）：本场景的承诺，情形另加的事项更长时取其长")
    visits: int = Field(description="按所答情形的到现场次数（情形另加的事项需要更多时取其多），0 为全程网办")
    lead_department: str
    form_name: str | None
    form_fields: list[FormField]


def _brief(item: Item) -> ItemBrief:
    return ItemBrief(code=item.code, name=item.name, department=item.department,
                     promised_days=item.promised_days, legal_days=item.legal_days)


def _summary(sc: Scenario) -> dict:
    return dict(id=sc.id, name=sc.name, aliases=sc.aliases, batch=sc.batch.value,
                service_object=sc.service_object.value, summary=sc.summary, lead_department=sc.lead_department,
                co_departments=sc.co_departments, item_count=len(sc.items), question_count=len(sc.questions),
                promised_days=sc.promised_days, visits=sc.visits)


def _checklist_out(checklist: Checklist) -> ChecklistOut:
    sc = checklist.scenario
    materials = [ChecklistMaterialOut(**{k: v for k, v in vars(m).items() if k != "satisfied_by"},
                                      held_note=HELD_NOTE if m.already_held else HELD_IN_PART_NOTE if m.held_in_part else None)
                 for m in checklist.materials]
    return ChecklistOut(scenario_id=sc.id, name=sc.name, answers=checklist.answers, unanswered=checklist.unanswered,
                        items=[_brief(i) for i in checklist.items], materials=materials, steps=checklist.steps,
                        promised_days=checklist.promised_days, visits=checklist.visits, lead_department=sc.lead_department,
                        form_name=sc.form_name, form_fields=sc.form_fields)


def _out(model: BaseModel) -> web.Response:
    return json_response(model.model_dump(mode="json"))


@api
async def search_guides(
    request: web.Request,
    q: Annotated[str, Field(min_length=1, max_length=200, description="想办的事，口语即可，如“我要开饭店”")],
    limit: Annotated[int, Field(ge=1, le=50)] = 10,
) -> r200[GuideSearchOut] | r400[ErrorBody]:
    """Search scenarios and items."""
    result = request.app[keys.KNOWLEDGE_BASE].current.search(q, limit=limit)
    return _out(GuideSearchOut(query=q, confident=result.confident, results=[
        GuideHit(kind=h.doc.kind, id=h.doc.id, name=h.doc.name, department=h.doc.department, score=h.score)
        for h in result.hits]))


@api
async def list_scenarios(request: web.Request) -> r200[list[ScenarioSummary]]:
    """All scenarios (一件事)."""
    scenarios = request.app[keys.KNOWLEDGE_BASE].current.catalogue.scenarios.values()
    return json_response([ScenarioSummary(**_summary(sc)).model_dump(mode="json") for sc in scenarios])


@api
async def get_scenario(request: web.Request, scenario_id: str, /) -> r200[ScenarioDetail] | r404[ErrorBody]:
    """One scenario with its situation questions."""
    kb = request.app[keys.KNOWLEDGE_BASE].current
    sc = kb.scenario(scenario_id)
    return _out(ScenarioDetail(**_summary(sc), items=[_brief(kb.item(c)) for c in sc.items], questions=sc.questions,
                               steps=sc.steps, form_name=sc.form_name, form_fields=sc.form_fields))


@api
async def scenario_checklist(request: web.Request, scenario_id: str, /,
                             body: ChecklistRequest
                             ) -> r200[ChecklistOut] | r400[ErrorBody] | r401[ErrorBody] | r404[ErrorBody]:
    """The tailored checklist for the situation answers.

    同一材料被多个事项需要时只列一次（一套材料）；登录并实名的用户，政府已掌握的材料标注“已有，免提交”。
    """
    app = request.app
    kb = app[keys.KNOWLEDGE_BASE].current
    kb.scenario(scenario_id)  # an unknown scenario is 404 before anything else
    held: frozenset[str] = frozenset()
    if "Authorization" in request.headers or body.enterprise:
        session = await current_session(request)
        async with transaction(app) as db:
            held = await held_kinds_of_caller(db, session.openid, body.enterprise, app[keys.CLOCK].today())
    return _out(_checklist_out(kb.checklist(scenario_id, body.answers, held)))


@api
async def get_item(request: web.Request, code: str, /) -> r200[Item] | r404[ErrorBody]:
    """One service item with its standard elements."""
    return _out(request.app[keys.KNOWLEDGE_BASE].current.item(code))


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/guides", search_guides, allow_head=False)
    app.router.add_get("/api/v1/scenarios", list_scenarios, allow_head=False)
    app.router.add_get("/api/v1/scenarios/{scenario_id}", get_scenario, allow_head=False)
    app.router.add_post("/api/v1/scenarios/{scenario_id}/checklist", scenario_checklist)
    app.router.add_get("/api/v1/items/{code}", get_item, allow_head=False)

