"""Import of external service-item catalogues (`python server.py kb import FILE`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from core.db import create_engine
from core.settings import REPO_ROOT
from knowledge_base import importer
from knowledge_base.catalogue import Catalogue, load_catalogue
from knowledge_base.gd_mapping import SOURCE, RowRejected, map_row, material_index
from knowledge_base.importer import ImportReport, import_items, load_imported_items, main, read_jsonl
from knowledge_base.models import ImportedItem
from knowledge_base.schema import HandlingType, PowerType, ServiceObject

DATASET = REPO_ROOT.parent / "shared" / "datasets" / "gd_service_items.jsonl"


def _row(**fields: Any) -> dict[str, Any]:
    """A well-formed row as published, with `fields` replaced."""
    row = {
        "TASK_CODE": "11440000TEST0000001", "matter_name": "临时价格干预范围事项提价申报",
        "DEPT_NAME": "广东省发展和改革委员会", "matter_type": "行政许可", "matter_level": "省级",
        "service_object_name": ["自然人", "企业法人", "行政机关"], "theme_category": ["其他"],
        "handle_time": "30(工作日)", "handle_time_limit": "7(工作日)", "visit_number": "0",
        "co_department": "无", "accept_standard": "符合条件的申请人", "material_intro": ["提价申报申请报告"],
        "handle_location": "办理地点：广州市越秀区东风中路305号", "consult_phone": "020-34121084",
        "complain_phone": "020-83134173", "courier_service": "是", "online_book": "是", "ONLINECHECK": "1",
        "URL": "https://www.gdzwfw.gov.cn/",
    }
    row.update(fields)
    return row


def _write_jsonl(path: Path, lines: list[dict[str, Any] | str]) -> Path:
    text = "\n".join(line if isinstance(line, str) else json.dumps(line, ensure_ascii=False) for line in lines)
    path.write_text(text + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def curated() -> Catalogue:
    return load_catalogue()


@pytest.fixture
async def sessions(make_settings):
    engine = create_engine(make_settings())
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


async def _import(sessions, path: Path, curated: Catalogue, clock) -> ImportReport:
    async with sessions.begin() as session:
        return await import_items(session, read_jsonl(path), curated=curated, now=clock.now(), source=SOURCE)


async def _stored(sessions) -> dict[str, ImportedItem]:
    async with sessions() as session:
        return {row.code: row for row in await session.scalars(select(ImportedItem))}


def _adds_up(report: ImportReport) -> bool:
    return report.imported + report.updated + report.unchanged + report.merged + len(report.rejected) == report.read


def _dataset() -> Path:
    if not DATASET.is_file():
        pytest.skip(f"dataset {DATASET} is absent (see shared/datasets/README.md)")
    return DATASET


# --- the real dataset ---------------------------------------------------------------------

async def test_the_whole_guangdong_catalogue_imports(sessions, curated, clock):
    path = _dataset()
    lines = sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    report = await _import(sessions, path, curated, clock)
    assert report.read == lines == 2262
    assert _adds_up(report)
    assert report.imported >= 2000
    stored = await _stored(sessions)
    assert len(stored) == report.written == report.imported + report.merged
    async with sessions() as session:
        assert len(await load_imported_items(session)) == report.imported
    # 居民身份证 reuses the curated key, so a personal space can mark it 免提交.
    keys = {m["key"] for row in stored.values() for m in row.data["materials"] if m["name"] == "居民身份证"}
    assert keys == {"id_card"}


async def test_a_second_run_changes_nothing(sessions, curated, clock):
    path = _dataset()
    first = await _import(sessions, path, curated, clock)
    before = {code: row.updated_at for code, row in (await _stored(sessions)).items()}
    clock.advance(timedelta(days=1))
    second = await _import(sessions, path, curated, clock)
    assert (second.imported, second.updated, second.written) == (0, 0, 0)
    assert second.unchanged == first.imported and second.merged == first.merged
    assert second.rejected == first.rejected and _adds_up(second)
    assert {code: row.updated_at for code, row in (await _stored(sessions)).items()} == before


# --- mapping of awkward values ------------------------------------------------------------

@pytest.mark.parametrize(("published", "days"), [
    ("20(工作日)", 20), ("20（工作日）", 20), ("20个工作日", 20), ("30 个工作日", 30), ("20", 20),
    ("即办", 0), ("0", 0), (0, 0), ("无", None), ("", None), (None, None), ("90(自然日)", None), ("尽快", None),
])
def test_legal_time_limits_are_read_as_working_days(published, days):
    notes: list[str] = []
    item = map_row(_row(handle_time=published, handle_time_limit="无"), notes=notes)
    assert item.legal_days == days
    if published in ("90(自然日)", "尽快"):
        assert notes and "handle_time" in notes[0]


def test_an_immediate_item_has_promised_days_zero():
    item = map_row(_row(handle_time="20(工作日)", handle_time_limit="即办"))
    assert (item.legal_days, item.promised_days, item.handling_type) == (20, 0, HandlingType.immediate)
    assert map_row(_row()).handling_type is HandlingType.promised


def test_promised_longer_than_legal_drops_the_legal_limit_with_a_note():
    notes: list[str] = []
    item = map_row(_row(handle_time="5(工作日)", handle_time_limit="20(工作日)"), notes=notes)
    assert (item.legal_days, item.promised_days) == (None, 20)
    assert notes == ["承诺时限超过法定时限，已去掉法定时限"]


def test_nothing_published_maps_to_empty_fields():
    item = map_row(_row(**{f: "无" for f in ("handle_time", "handle_time_limit", "accept_standard", "material_intro",
                                             "consult_phone", "complain_phone", "handle_location", "visit_number")}))
    assert (item.legal_days, item.promised_days, item.conditions, item.place) == (None, None, None, None)
    assert (item.materials, item.consult_phone, item.complaint_phone, item.visits) == ([], None, None, 1)
    assert item.channels[0] == "窗口"


def test_lists_odd_spacing_and_long_text_are_tolerated(curated):
    item = map_row(_row(TASK_CODE=" 11440000 TEST01 ", matter_name=["  建设\u3000工程   规划\n许可 "],
                        DEPT_NAME=" 广东省\u00a0水利厅 ", accept_standard=["条件一", "无", " 条件二 "],
                        handle_location="办理地点：  广州市\t天河区", visit_number="12",
                        material_intro=["1、居民身份证", "《居民身份证》", " 居民 身份证", "（2）建设 方案", "2寸照片"],
                        consult_phone=["020-1", "020-2"], service_object_name=["事业法人", "自然人", "外星人"]),
                   material_index(curated))
    assert (item.code, item.name, item.department) == ("11440000TEST01", "建设 工程 规划 许可", "广东省 水利厅")
    assert (item.conditions, item.place, item.consult_phone) == ("条件一；条件二", "广州市 天河区", "020-1；020-2")
    assert item.visits == 10
    assert item.service_objects == [ServiceObject.person, ServiceObject.legal_person]
    assert (item.materials[0].key, item.materials[0].name) == ("id_card", "居民身份证")
    assert [m.name for m in item.materials][1:] == ["建设 方案", "2寸照片"]
    assert item.materials[1].key.startswith("m_") and len(item.materials[1].key) == 12
    assert map_row(_row(material_intro=["建设  方案"])).materials[0].key == item.materials[1].key  # stable slug
    long = map_row(_row(matter_name="长" * 600, accept_standard="条" * 5000))
    assert len(long.name) == 500 and long.name.endswith("…") and len(long.conditions) == 4000


def test_unknown_power_type_is_imported_as_other_with_a_note():
    notes: list[str] = []
    assert map_row(_row(matter_type="行政处罚"), notes=notes).power_type is PowerType.other_power
    assert notes == ["权力类型「行政处罚」未知，按其他行政权力导入"]


def test_channels_follow_the_published_flags():
    assert map_row(_row()).channels == ["窗口", "网上办理", "网上预约", "快递送达"]
    online_only = map_row(_row(handle_location="无线下办理窗口", courier_service="不支持", online_book="否"))
    assert (online_only.channels, online_only.place) == (["网上办理"], None)
    assert map_row(_row(ONLINECHECK="0", online_book="否", courier_service="否")).channels == ["窗口"]


@pytest.mark.parametrize(("fields", "reason"), [
    ({"matter_name": "无"}, "缺少事项名称（matter_name）"),
    ({"matter_name": None}, "缺少事项名称（matter_name）"),
    ({"TASK_CODE": ""}, "缺少事项编码（TASK_CODE）"),
    ({"TASK_CODE": "编码/1"}, "事项编码（TASK_CODE）格式不符：只能含字母、数字和 -_.，最长 64 位"),
    ({"TASK_CODE": {"a": 1}}, "事项编码（TASK_CODE）不是文本"),
    ({"DEPT_NAME": "  "}, "缺少实施部门（DEPT_NAME）"),
    ({"service_object_name": []}, "缺少可识别的服务对象（service_object_name）"),
    ({"service_object_name": "无"}, "缺少可识别的服务对象（service_object_name）"),
])
def test_unusable_rows_are_rejected_with_a_reason(fields, reason):
    with pytest.raises(RowRejected) as caught:
        map_row(_row(**fields))
    assert caught.value.reason == reason


# --- importing a file with bad rows -------------------------------------------------------

async def test_a_file_with_bad_rows_imports_the_good_ones_and_explains_the_rest(sessions, curated, clock, tmp_path):
    path = _write_jsonl(tmp_path / "items.jsonl", [
        _row(TASK_CODE="A1"),                                                        # 1 imported
        "{not json",                                                                 # 2
        _row(TASK_CODE="A3", matter_name=None),                                      # 3
        {k: v for k, v in _row().items() if k != "TASK_CODE"},                       # 4
        {k: "无" for k in _row()},                                                   # 5
        _row(TASK_CODE="A6", matter_name=[" 列表\u3000名称 "], handle_time="20(工作日)",
             handle_time_limit="即办", material_intro="无"),                          # 6 imported
        "",                                                                          # blank: not a row
        _row(TASK_CODE="A1", matter_name="重复"),                                     # 8
        "[1, 2]",                                                                    # 9
        _row(TASK_CODE="A10", handle_time="90(自然日)", handle_time_limit="30个工作日"),  # 10 imported, noted
    ])
    report = await _import(sessions, path, curated, clock)
    assert (report.read, report.imported, report.merged) == (9, 3, 0) and _adds_up(report)
    assert report.rejected == [
        (2, "不是有效的 JSON"), (3, "缺少事项名称（matter_name）"), (4, "缺少事项编码（TASK_CODE）"),
        (5, "缺少事项编码（TASK_CODE）"), (8, "事项编码（TASK_CODE）在文件中重复，保留首次出现的行"),
        (9, "不是 JSON 对象"),
    ]
    assert report.notes == {"时限 handle_time 以自然日计，未换算为工作日": [10]}
    stored = await _stored(sessions)
    assert set(stored) == {"A1", "A6", "A10"} and stored["A1"].name == _row()["matter_name"]
    a6 = stored["A6"].data
    assert (a6["name"], a6["legal_days"], a6["promised_days"], a6["handling_type"]) == ("列表 名称", 20, 0, "即办件")
    assert (stored["A10"].data["legal_days"], stored["A10"].data["promised_days"]) == (None, 30)


async def test_a_changed_row_updates_exactly_that_row(sessions, curated, clock, tmp_path):
    rows = [_row(TASK_CODE=f"B{n}", matter_name=f"事项{n}") for n in range(3)]
    path = _write_jsonl(tmp_path / "items.jsonl", rows)
    await _import(sessions, path, curated, clock)
    first = clock.now()
    clock.advance(timedelta(hours=2))
    rows[1]["handle_time_limit"] = "3(工作日)"
    report = await _import(sessions, _write_jsonl(path, rows), curated, clock)
    assert (report.imported, report.updated, report.unchanged, report.written) == (0, 1, 2, 1)
    stored = await _stored(sessions)
    assert {code: row.updated_at for code, row in stored.items()} == {"B0": first, "B1": clock.now(), "B2": first}
    assert stored["B1"].created_at == first and stored["B1"].data["promised_days"] == 3


async def test_a_row_named_like_a_curated_item_is_merged_into_it(sessions, curated, clock, tmp_path):
    target = next(iter(curated.items.values()))
    spaced = " ".join(target.name)  # odd spacing must not hide the duplicate
    path = _write_jsonl(tmp_path / "items.jsonl", [_row(TASK_CODE="C1", matter_name=spaced), _row(TASK_CODE="C2")])
    report = await _import(sessions, path, curated, clock)
    assert (report.read, report.imported, report.merged, report.written) == (2, 1, 1, 2)
    stored = await _stored(sessions)
    assert (stored["C1"].merged_into, stored["C2"].merged_into) == (target.code, None)
    async with sessions() as session:
        assert [item.code for item in await load_imported_items(session)] == ["C2"]
    again = await _import(sessions, path, curated, clock)
    assert (again.merged, again.unchanged, again.written) == (1, 1, 0)


async def test_main_reports_an_unreadable_file_in_one_line(make_settings, tmp_path, capsys):
    assert await main(make_settings(), tmp_path / "missing.jsonl") == 1
    err = capsys.readouterr().err.strip()
    assert err == f"无法读取文件 {tmp_path / 'missing.jsonl'}：文件不存在"


async def test_a_failure_half_way_writes_nothing(make_settings, sessions, clock, tmp_path, capsys, monkeypatch):
    path = _write_jsonl(tmp_path / "items.jsonl", [_row(TASK_CODE=f"E{n}") for n in range(5)])
    real_hash = importer.content_hash
    # A value the column cannot hold makes PostgreSQL refuse the fourth row.
    monkeypatch.setattr(importer, "content_hash", lambda item: "x" * 100 if item.code == "E3" else real_hash(item))
    assert await main(make_settings(), path, clock=clock) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("导入失败，未写入任何数据：") and "\n" not in err
    assert await _stored(sessions) == {}


def test_the_operator_command_imports_into_the_embedded_database(tmp_path):
    path = _write_jsonl(tmp_path / "items.jsonl", [_row(TASK_CODE="D1"), _row(TASK_CODE="D2"), "oops"])
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "MIGRATE_ON_START"}}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path}/embedded.db"

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(REPO_ROOT / "server.py"), "kb", "import", str(path)],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=50, check=False)

    done = run()
    assert done.returncode == 0, done.stderr + done.stdout
    assert "读取 3 行：新增 2，更新 0，未变 0，合并 0，拒绝 1" in done.stdout
    assert "不是有效的 JSON ×1（第 3 行）" in done.stdout
    again = run()
    assert again.returncode == 0 and "新增 0，更新 0，未变 2，合并 0，拒绝 1（本次写入 0 行）" in again.stdout
