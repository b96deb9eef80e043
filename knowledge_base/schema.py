"""The shapes of the knowledge-base data files: service items (事项) and scenarios (一件事).

Files live in `knowledge_base/data/items/*.yaml` (each a mapping with an `items:` list) and
`knowledge_base/data/scenarios/*.yaml` (each with a `scenarios:` list). The element names
follow the 三级十同 item elements: name, code, type, legal basis, level, service object,
conditions, materials, time limits and fees.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$", max_length=64)]
ItemCode = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9\-_.]*$", max_length=64)]
Text = Annotated[str, Field(min_length=1, max_length=4000)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PowerType(StrEnum):
    """权力类型."""

    licence = "行政许可"
    confirmation = "行政确认"
    payment = "行政给付"
    levy = "行政征收"
    award = "行政奖励"
    ruling = "行政裁决"
    inspection = "行政检查"
    other_power = "其他行政权力"
    public_service = "公共服务"


class Section(StrEnum):
    """The seven business sections of the acceptance list (受理清单)."""

    enterprise = "企业登记"
    construction = "投资项目/建设工程"
    real_estate = "不动产登记"
    police = "公安"
    housing_fund = "公积金"
    social_security = "医保社保"
    general = "综合事务"


class ServiceObject(StrEnum):
    person = "自然人"
    legal_person = "法人"


class HandlingType(StrEnum):
    immediate = "即办件"  # decided on the spot
    promised = "承诺件"  # decided within the promised time
    joint = "联办件"  # needs several departments


# Document kinds a personal space holds (证照/材料); `Material.satisfied_by` names one of them.
DOCUMENT_KINDS = frozenset({
    "居民身份证", "居民户口簿", "居住证", "机动车驾驶证", "机动车行驶证", "护照", "港澳通行证",
    "结婚证", "离婚证", "出生医学证明", "社会保障卡", "医保电子凭证", "不动产权证书", "营业执照",
    "食品经营许可证", "卫生许可证", "特种行业许可证", "道路运输经营许可证", "道路运输证",
    "人力资源服务许可证", "劳务派遣经营许可证", "医疗机构执业许可证", "医师执业证书",
    "网络文化经营许可证", "农作物种子生产经营许可证", "办学许可证", "健康证明", "学历证书",
    "职业资格证书", "残疾人证", "老年人优待证", "公积金缴存证明", "户籍证明", "无犯罪记录证明",
})


class Requirement(StrEnum):
    required = "required"  # 必要
    conditional = "conditional"  # 容缺/视情形: needed only in the stated condition


class Material(_Strict):
    """One material an item asks for.

    `key` is the canonical material id shared across items (id_card, business_licence,
    premises_proof, …): two items of one scenario asking for the same key get one merged
    entry (一套材料). The same key must carry the same name everywhere.
    """

    key: Slug
    name: Text
    requirement: Requirement = Requirement.required
    condition: str | None = None  # when conditional: in which case it is needed
    originals: int = Field(default=1, ge=0, le=20)  # 原件份数
    copies: int = Field(default=0, ge=0, le=20)  # 复印件份数
    form: str = "纸质或电子"  # 纸质 / 电子 / 纸质或电子
    source: str = "申请人自备"  # 来源渠道: 申请人自备 / 政府部门核发 (name the department) / 中介机构
    tolerance_allowed: bool = False  # 容缺受理: may be handed in later
    satisfied_by: str | None = None  # document kind in a personal space that makes it 免提交
    # The caller's own document of that kind is only their part of it (从业人员健康证明: theirs,
    # not the other staff's): shown as held in part, never as 免提交.
    satisfied_in_part: bool = False
    note: str | None = None

    @field_validator("satisfied_by")
    @classmethod
    def _known_kind(cls, kind: str | None) -> str | None:
        if kind is not None and kind not in DOCUMENT_KINDS:
            raise ValueError(f"unknown document kind {kind!r}; one of: {', '.join(sorted(DOCUMENT_KINDS))}")
        return kind

    @model_validator(mode="after")
    def _conditional_has_condition(self) -> Material:
        if self.requirement is Requirement.conditional and not self.condition:
            raise ValueError("a conditional material needs `condition` (在何种情形下需要)")
        return self


class Fee(_Strict):
    name: Text
    amount: str  # "10元/本", "按面积收取" — amounts are quoted as published
    basis: str | None = None


class FAQ(_Strict):
    q: Text
    a: Text


class Item(_Strict):
    """A service item (事项) with its standard elements."""

    code: ItemCode
    name: Text
    aliases: list[str] = []
    department: Text
    power_type: PowerType
    section: Section | None = None
    service_objects: list[ServiceObject] = Field(min_length=1)
    legal_basis: list[str] = []  # 设立依据
    conditions: str | None = None  # 受理条件
    materials: list[Material] = []
    legal_days: int | None = Field(default=None, ge=0, le=3650)  # 法定办结时限（工作日）
    promised_days: int | None = Field(default=None, ge=0, le=3650)  # 承诺办结时限（工作日）
    fees: list[Fee] = []  # empty: 不收费
    handling_type: HandlingType = HandlingType.promised
    visits: int = Field(default=1, ge=0, le=10)  # 到现场次数; 0 = 全程网办
    channels: list[str] = []  # 窗口, 鄂汇办APP, 微信小程序, 政务服务网
    place: str | None = None
    hours: str | None = None
    consult_phone: str | None = None
    complaint_phone: str | None = None
    faq: list[FAQ] = []
    source: str = "curated"  # curated / imported dataset name

    @model_validator(mode="after")
    def _check(self) -> Item:
        keys = [m.key for m in self.materials]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"material keys listed twice: {', '.join(dupes)}")
        if self.legal_days is not None and self.promised_days is not None and self.promised_days > self.legal_days:
            raise ValueError("promised_days must not exceed legal_days (承诺时限不得超过法定时限)")
        if self.handling_type is HandlingType.immediate and self.promised_days not in (None, 0):
            raise ValueError("an 即办件 has promised_days 0")
        return self


class Option(_Strict):
    """One answer to a situation question and what it brings in or drops."""

    id: Slug
    label: Text
    adds_items: list[ItemCode] = []
    drops_items: list[ItemCode] = []
    adds_materials: list[Material] = []  # scenario-level extra materials for this case
    drops_materials: list[Slug] = []  # material keys not needed in this case


class Question(_Strict):
    """A situation question (情形)."""

    id: Slug
    text: Text
    options: list[Option] = Field(min_length=2)
    depends_on: dict[Slug, Slug] | None = None  # ask only when these earlier answers were given

    @field_validator("options")
    @classmethod
    def _unique_options(cls, options: list[Option]) -> list[Option]:
        ids = [o.id for o in options]
        if len(ids) != len(set(ids)):
            raise ValueError("option ids must be unique within a question")
        return options


class FormField(_Strict):
    key: Slug
    label: Text
    required: bool = True
    prefill: str | None = None  # where a logged-in caller's value comes from: name, id_number, phone, enterprise_name, uscc


class Step(_Strict):
    name: Text
    department: Text
    items: list[ItemCode] = []
    parallel_group: int | None = None  # steps with the same group run at the same time (并联)
    days: int | None = Field(default=None, ge=0, le=3650)


class Batch(StrEnum):
    key = "key"  # 附表1: 9 项重点实施清单
    reference = "reference"  # 附表2: 实施参考清单
    first = "first"  # 第一批一事联办


class Scenario(_Strict):
    """A life or business event (一件事) that bundles items into one flow."""

    id: Slug
    name: Text  # the seed document's exact name
    aliases: list[str] = []
    batch: Batch
    service_object: ServiceObject
    summary: Text
    lead_department: Text
    co_departments: list[str] = []
    items: list[ItemCode] = Field(min_length=1)  # the base set, before situation answers
    questions: list[Question] = []
    extra_materials: list[Material] = []  # materials of the scenario itself (e.g. the joint form)
    form_name: str | None = None  # 一张表单
    form_fields: list[FormField] = []
    steps: list[Step] = []
    promised_days: int | None = Field(default=None, ge=0, le=3650)  # total promised time (工作日)
    visits: int = Field(default=1, ge=0, le=10)
    keywords: list[str] = []

    @model_validator(mode="after")
    def _check(self) -> Scenario:
        qids = [q.id for q in self.questions]
        if len(qids) != len(set(qids)):
            raise ValueError("question ids must be unique within a scenario")
        for q in self.questions:
            for dep_q, dep_o in (q.depends_on or {}).items():
                earlier = {x.id: x for x in self.questions[: qids.index(q.id)]}
                if dep_q not in earlier or dep_o not in {o.id for o in earlier[dep_q].options}:
                    raise ValueError(f"question {q.id}: depends_on {dep_q}={dep_o} is not an earlier question/option")
        return self


class ItemFile(_Strict):
    items: list[Item]


class ScenarioFile(_Strict):
    scenarios: list[Scenario]

