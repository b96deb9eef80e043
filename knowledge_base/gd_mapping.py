"""Map one row of the Guangdong service-item catalogue (gd_service_items.jsonl) to an `Item`.

Values are as published: "无" for nothing, lists where text is expected, odd spacing, limits
such as "20(工作日)". `map_row` tolerates all of that; what it cannot use it either notes
(the item is still imported) or refuses with `RowRejected` and a short, specific reason.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from knowledge_base.catalogue import Catalogue
from knowledge_base.models import NAME_MAX_CHARS
from knowledge_base.schema import DOCUMENT_KINDS, HandlingType, Item, Material, PowerType, ServiceObject
from knowledge_base.text import name_key

SOURCE = "gd_service_items"
TEXT_MAX_CHARS = 4000  # schema.Text

# Published placeholders for "nothing here".
_EMPTY = frozenset({"", "无", "暂无", "没有", "/", "-", "—", "null", "none"})
_NO_WINDOW = "无线下办理窗口"  # handle_location of items handled online only
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-_.]*$")
_DAYS = re.compile(r"^(\d+)\s*(?:个)?\s*(?:\((工作日|自然日|日|天)\)|(工作日|自然日|日|天))?$")
# Leading list numbering such as "1、", "2.", "（3）"; not the "2" of "2寸照片".
_ENUMERATION = re.compile(r"^(?:\d+|[一二三四五六七八九十]+)[、.．)）](?!\d)\s*"
                          r"|^[(（](?:\d+|[一二三四五六七八九十]+)[)）]\s*")
_LEGAL_PERSON_HINTS = ("法人", "企业", "组织", "机关", "单位", "个体工商户")


class RowRejected(Exception):
    """The row cannot become an item; `reason` is short, specific and Chinese."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


def material_index(catalogue: Catalogue) -> dict[str, Material]:
    """Curated materials by normalised name, so imported items reuse their keys (居民身份证 → id_card)."""
    index: dict[str, Material] = {}
    for item in catalogue.items.values():
        for material in item.materials:
            index.setdefault(name_key(material.name), material)
    return index


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text.translate(_INVISIBLE)).strip()


def _text(row: Mapping[str, Any], field: str, notes: list[str]) -> str | None:
    """A text field: "无" → None, a list → its parts joined, odd spacing collapsed."""
    value = row.get(field)
    if isinstance(value, list):
        parts = [_clean(str(v)) for v in value if isinstance(v, (str, int, float)) and not isinstance(v, bool)]
        value = "；".join(p for p in parts if p.casefold() not in _EMPTY)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    elif value is not None and not isinstance(value, str):
        notes.append(f"字段 {field} 格式无法识别，已忽略")
        return None
    value = _clean(value or "")
    return None if value.casefold() in _EMPTY else value


def _truncate(text: str, limit: int, field: str, notes: list[str]) -> str:
    if len(text) <= limit:
        return text
    notes.append(f"字段 {field} 超过 {limit} 字，已截断")
    return text[: limit - 1] + "…"


def parse_days(value: Any, field: str, notes: list[str]) -> int | None:
    """Working days from "20(工作日)", "20个工作日", "20"; 即办 → 0; "无" or unusable → None."""
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif isinstance(value, str):
        text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", value))
    else:
        if value is not None:
            notes.append(f"时限 {field} 格式无法识别，已忽略")
        return None
    if text in _EMPTY:
        return None
    if text in ("即办", "当场办结", "即时办结", "立即办结"):
        return 0
    match = _DAYS.match(text)
    if not match:
        notes.append(f"时限 {field} 无法识别，已忽略")
        return None
    unit = match.group(2) or match.group(3) or "工作日"
    if unit != "工作日":
        # Calendar days cannot be turned into working days without knowing the start date.
        notes.append(f"时限 {field} 以自然日计，未换算为工作日")
        return None
    days = int(match.group(1))
    if days > 3650:
        notes.append(f"时限 {field} 超过 3650 个工作日，已忽略")
        return None
    return days


def _service_objects(value: Any, notes: list[str]) -> list[ServiceObject]:
    names = value if isinstance(value, list) else [value] if isinstance(value, str) else []
    found: list[ServiceObject] = []
    for raw in names:
        name = _clean(str(raw))
        if name in _EMPTY:
            continue
        if name == "自然人" or name in ("个人", "公民"):
            kind = ServiceObject.person
        elif any(hint in name for hint in _LEGAL_PERSON_HINTS):
            kind = ServiceObject.legal_person
        else:
            notes.append(f"服务对象「{name}」无法归类，已忽略")
            continue
        if kind not in found:
            found.append(kind)
    return sorted(found, key=list(ServiceObject).index)  # one order, so the content hash is stable


def _power_type(value: Any, notes: list[str]) -> PowerType:
    text = _clean(value) if isinstance(value, str) else ""
    try:
        return PowerType(text)
    except ValueError:
        notes.append(f"权力类型「{text or '空'}」未知，按其他行政权力导入")
        return PowerType.other_power


def _material_names(value: Any) -> list[str]:
    if isinstance(value, str):
        value = re.split(r"[\n；;]", value)
    if not isinstance(value, list):
        return []
    names = []
    for raw in value:
        if isinstance(raw, str):
            name = _ENUMERATION.sub("", _clean(raw)).strip()
            if name.casefold() not in _EMPTY:
                names.append(name)
    return names


def _materials(value: Any, curated: Mapping[str, Material], notes: list[str]) -> list[dict[str, Any]]:
    materials: dict[str, dict[str, Any]] = {}
    for name in _material_names(value):
        key_text = name_key(name)
        known = curated.get(key_text)
        if known is not None:
            # The curated key and name, so a personal space can mark it 已有，免提交.
            entry = {"key": known.key, "name": known.name, "satisfied_by": known.satisfied_by}
        else:
            kind = next((k for k in DOCUMENT_KINDS if name_key(k) == key_text), None)
            slug = "m_" + hashlib.sha1(key_text.encode("utf-8")).hexdigest()[:10]
            name = _truncate(name, TEXT_MAX_CHARS, "material_intro", notes)
            entry = {"key": slug, "name": name, "satisfied_by": kind}
        materials.setdefault(entry["key"], entry)  # the same material listed twice counts once
    return list(materials.values())


def _place(row: Mapping[str, Any], notes: list[str]) -> str | None:
    place = _text(row, "handle_location", notes)
    if place == _NO_WINDOW:
        return None
    if place:
        place = re.sub(r"^办理地点\s*[:：]\s*", "", place) or None
    return place


def _visits(value: Any, notes: list[str]) -> int:
    try:
        visits = int(str(value).strip())
    except ValueError:
        notes.append("到现场次数 visit_number 无法识别，按 1 次")
        return 1
    return min(max(visits, 0), 10)


def _channels(row: Mapping[str, Any], place: str | None) -> list[str]:
    # 窗口 unless the publisher says there is no counter at all.
    offline = place is not None or _clean(str(row.get("handle_location") or "")) != _NO_WINDOW
    channels = ["窗口"] if offline else []
    if str(row.get("ONLINECHECK") or "").strip() == "1":
        channels.append("网上办理")
    if _clean(str(row.get("online_book") or "")) == "是":
        channels.append("网上预约")
    if _clean(str(row.get("courier_service") or "")) == "是":
        channels.append("快递送达")
    return channels


def map_row(row: Mapping[str, Any], curated_materials: Mapping[str, Material] | None = None,
            notes: list[str] | None = None, *, source: str = SOURCE) -> Item:
    """Map one catalogue row to a validated Item, or raise RowRejected.

    `curated_materials` (from `material_index`) lets materials reuse curated keys; `notes`
    collects what was adjusted or left out while the item itself was kept.
    """
    notes = [] if notes is None else notes
    raw_code = row.get("TASK_CODE")
    if raw_code is not None and not isinstance(raw_code, (str, int)):
        raise RowRejected("事项编码（TASK_CODE）不是文本")
    code = re.sub(r"\s+", "", str(raw_code or ""))
    if code.casefold() in _EMPTY:
        raise RowRejected("缺少事项编码（TASK_CODE）")
    if len(code) > 64 or not _CODE.match(code):
        raise RowRejected("事项编码（TASK_CODE）格式不符：只能含字母、数字和 -_.，最长 64 位")
    name = _text(row, "matter_name", notes)
    if not name:
        raise RowRejected("缺少事项名称（matter_name）")
    department = _text(row, "DEPT_NAME", notes)
    if not department:
        raise RowRejected("缺少实施部门（DEPT_NAME）")
    service_objects = _service_objects(row.get("service_object_name"), notes)
    if not service_objects:
        # Guessing would put the item in the wrong audience's search results.
        raise RowRejected("缺少可识别的服务对象（service_object_name）")
    legal_days = parse_days(row.get("handle_time"), "handle_time", notes)
    promised_days = parse_days(row.get("handle_time_limit"), "handle_time_limit", notes)
    if legal_days is not None and promised_days is not None and promised_days > legal_days:
        notes.append("承诺时限超过法定时限，已去掉法定时限")
        legal_days = None
    conditions = _text(row, "accept_standard", notes)
    place = _place(row, notes)
    data = {
        "code": code,
        "name": _truncate(name, NAME_MAX_CHARS, "matter_name", notes),
        "department": _truncate(department, TEXT_MAX_CHARS, "DEPT_NAME", notes),
        "power_type": _power_type(row.get("matter_type"), notes),
        "section": None,
        "service_objects": service_objects,
        "conditions": _truncate(conditions, TEXT_MAX_CHARS, "accept_standard", notes) if conditions else None,
        "materials": _materials(row.get("material_intro"), curated_materials or {}, notes),
        "legal_days": legal_days,
        "promised_days": promised_days,
        "handling_type": HandlingType.immediate if promised_days == 0 else HandlingType.promised,
        "visits": _visits(row.get("visit_number", 1), notes),
        "channels": _channels(row, place),
        "place": place,
        "consult_phone": _text(row, "consult_phone", notes),
        "complaint_phone": _text(row, "complain_phone", notes),
        "source": source,
    }
    try:
        return Item.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        # Indices (materials.3.name) would split one cause into many report lines.
        field = ".".join("*" if isinstance(p, int) else str(p) for p in error["loc"]) or "item"
        raise RowRejected(f"字段 {field} 不合规：{error['msg']}") from None
