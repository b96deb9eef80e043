"""The calendar inside the running service: override changes reach the API, the version is
recorded once, and the recompute hooks run once per change."""

from __future__ import annotations

import aiohttp
from sqlalchemy import select

from core import keys
from core.calendar_service import refresh_calendar
from core.db import transaction
from core.system_state import SystemState
from server import create_app
from tests.processes import ServiceProcesses, run_server

# The operator types in a (hypothetical) published 2027 schedule in which Monday 2027-01-04 is
# also a day off; predicted, only Friday 2027-01-01 is.
OVERRIDE_2027 = """
years:
  2027:
    published: true
    source: 测试用安排
    holidays:
      - {from: 2027-01-01, to: 2027-01-04, name: 元旦}
"""


async def deadline(client, start: str, days: int) -> dict:
    response = await client.get("/api/v1/calendar/deadline", params={"from": start, "working_days": str(days)})
    assert response.status == 200, await response.text()
    return await response.json()


async def test_an_override_change_reaches_the_api_and_runs_the_hooks_once(aiohttp_client, make_settings, calendar_file):
    calls: list[str] = []

    async def recompute(session, calendar, now):
        calls.append(calendar.version)  # a real hook would UPDATE provisional deadlines here

    app = create_app(make_settings())
    app[keys.CALENDAR_HOOKS].append(recompute)
    client = await aiohttp_client(app)
    before = await deadline(client, "2026-12-30", 2)
    assert before == {**before, "due_date": "2027-01-04", "provisional": True}
    assert calls == [before["calendar_version"]]  # first start: the version is recorded once

    calendar_file.write_text(OVERRIDE_2027, encoding="utf-8")
    await refresh_calendar(app)
    await refresh_calendar(app)  # nothing changed since: no second run
    after = await deadline(client, "2026-12-30", 2)
    assert after["due_date"] == "2027-01-05"  # 12-31 is the first; 01-01..01-04 off; 01-05 the second
    assert after["provisional"] is False  # 2027 is now published
    assert after["calendar_version"] != before["calendar_version"]
    assert calls == [before["calendar_version"], after["calendar_version"]]
    async with transaction(app) as session:
        row = (await session.execute(select(SystemState).where(SystemState.key == "calendar_version"))).scalar_one()
    assert row.value == after["calendar_version"]


async def test_a_second_process_does_not_recompute_again(aiohttp_client, make_settings):
    calls: list[str] = []

    async def recompute(session, calendar, now):
        calls.append(calendar.version)

    first = create_app(make_settings())
    first[keys.CALENDAR_HOOKS].append(recompute)
    await aiohttp_client(first)
    second = create_app(make_settings())
    second[keys.CALENDAR_HOOKS].append(recompute)
    await aiohttp_client(second)
    assert len(calls) == 1


async def test_a_broken_override_file_keeps_the_calendar_in_force(aiohttp_client, make_settings, calendar_file):
    app = create_app(make_settings())
    client = await aiohttp_client(app)
    version = (await deadline(client, "2026-09-30", 5))["calendar_version"]
    calendar_file.write_text("years:\n  2027:\n    holidays:\n      - {date: 2026-05-01, name: 错年}\n", encoding="utf-8")
    await refresh_calendar(app)
    body = await deadline(client, "2026-09-30", 5)
    assert body["calendar_version"] == version and body["due_date"] == "2026-10-13"


def test_calendar_check_and_load_commands(tmp_path):
    candidate = tmp_path / "new.yaml"
    candidate.write_text(OVERRIDE_2027, encoding="utf-8")
    installed = tmp_path / "installed.yaml"
    env = {"CALENDAR_FILE": str(installed), "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    check = run_server("calendar", "check", str(candidate), env=env, cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert "2027 年：已公布" in check.stdout
    assert "2027-01-04 周一：工作日 → 休息日" in check.stdout
    assert not installed.exists()
    load = run_server("calendar", "load", str(candidate), env=env, cwd=tmp_path)
    assert load.returncode == 0, load.stderr
    assert installed.read_text(encoding="utf-8") == OVERRIDE_2027
    bad = tmp_path / "bad.yaml"
    bad.write_text("years:\n  2027:\n    holidays:\n      - {from: 2027-03-02, to: 2027-03-01, name: 反了}\n")
    refused = run_server("calendar", "load", str(bad), env=env, cwd=tmp_path)
    assert refused.returncode == 2
    assert "bad.yaml" in refused.stderr and "line 4" in refused.stderr
    assert installed.read_text(encoding="utf-8") == OVERRIDE_2027  # the bad file was not installed


async def test_python_server_py_serves_the_embedded_default(tmp_path):
    """The README's run command, minus the install: the service answers /healthz on its port."""
    async with ServiceProcesses(tmp_path) as group:
        server = await group.start_server("embedded", {})
        await group.ready(server, timeout=30)
        async with aiohttp.ClientSession() as http, http.get(f"{server.url}/healthz") as response:
            assert response.status == 200
        assert (tmp_path / "data" / "zhangshangban.db").exists()
