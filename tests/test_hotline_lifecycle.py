"""12345 tickets over HTTP, with every role: the whole lifecycle, every refused transition leaving
the ticket unchanged, the 退单 and 改派 clock rules, the extension cap, 重办 and withdrawal."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from core.clock import SHANGHAI
from core.db import transaction
from core.outbox import OutboxMessage
from hotline import rules
from hotline.models import Ticket
from tests.hotline_helpers import (  # noqa: F401 - fixtures
    Desk, alice, as_citizen, bob, desk, file_ticket, hotline_client, stored,
)
from tests.personal_space_helpers import ALICE, login
from tests.row_counts import count_rows


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def _notices(client, recipient: str) -> list[str]:
    async with transaction(client.server.app) as session:
        rows = await session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == recipient)
                                     .order_by(OutboxMessage.id))
        return [m.data["办理进度"] for m in rows if m.kind == "ticket_progress"]


async def test_the_whole_lifecycle_from_the_mini_program_to_closure(hotline_client, desk, alice, clock):
    client = hotline_client
    filed = await file_ticket(client, alice, type="投诉", location="滨江路88号", anonymous=False)
    number = filed["number"]
    assert number == "GD20261118000001"
    assert filed["state"] == "registered" and filed["state_label"] == "已登记"
    assert filed["deadline"]["due_date"] == "2026-11-25"  # Wed 18 → Thu, Fri, Mon, Tue, Wed
    assert filed["deadline"]["promise"] == "按规定将在5个工作日内，即11月25日前答复"
    assert filed["can_withdraw"] and not filed["can_rate"]

    detail = await desk.ticket("agent01", number)
    assert detail["contact_name"] == ALICE["name"] and detail["contact_phone"] == ALICE["phone"]
    assert [a["name"] for a in detail["actions"]] == ["classify", "dispatch", "answer"]
    await desk.ok("agent01", number, "classify", category="环境保护", difficulty="general")
    await desk.ok("agent01", number, "dispatch", department="cgj", assist_departments=["hbj"], note="请核查油烟噪音")

    dept = await desk.ticket("dept-cgj", number)
    assert dept["state"] == "dispatched" and [a["name"] for a in dept["actions"]] == ["sign", "return"]
    assert dept["sign_due_date"] == "2026-11-19" and dept["return_due_date"] == "2026-11-20"
    assert moment(dept["dispatched_at"]) == datetime(2026, 11, 18, 9, 30, tzinfo=SHANGHAI)
    assert dept["deadline"]["pending"] is True and dept["closed_at"] is None
    clock.set(datetime(2026, 11, 19, 10, 0, tzinfo=SHANGHAI))
    await desk.ok("dept-cgj", number, "sign")
    clock.set(datetime(2026, 11, 23, 15, 0, tzinfo=SHANGHAI))
    replied = await desk.ok("dept-cgj", number, "reply", reply="已约谈店主，加装油烟净化器并于22时前停止营业。")
    assert replied["state"] == "replied" and replied["deadline"]["pending"] is False

    mine = await (await client.get(f"/api/v1/tickets/{number}", headers=alice)).json()
    assert mine["reply"].startswith("已约谈店主") and mine["department_name"] == "市城市管理执法局"
    assert [s["action"] for s in mine["timeline"]] == ["register", "dispatch", "sign", "reply"]  # classify is internal
    assert all(s["by"] in ("本人", "12345热线", "市城市管理执法局", "系统") for s in mine["timeline"])

    await desk.ok("agent01", number, "callback", note="回访：群众表示油烟已明显减少", reached=True)
    clock.set(datetime(2026, 11, 24, 11, 0, tzinfo=SHANGHAI))
    closed = await desk.ok("agent01", number, "close")
    assert closed["state"] == "closed"
    assert moment(closed["closed_at"]) == datetime(2026, 11, 24, 11, 0, tzinfo=SHANGHAI)
    rated = await client.post(f"/api/v1/tickets/{number}/rating", json={"level": "满意"}, headers=alice)
    assert rated.status == 200 and (await rated.json())["rating"]["level"] == "满意"

    assert await _notices(client, ALICE["id_number"]) == ["已登记", "已派单", "已答复", "已办结"]
    log = await (await client.get("/api/v1/me/access-log", headers=alice)).json()
    readers = {r["reader"] for r in log if r["reader_type"] == "staff"}
    assert readers == {"12345热线（agent01姓名）", "市城市管理执法局（dept-cgj姓名）"}


async def test_an_anonymous_callers_rating_comment_reaches_departments_with_its_numbers_masked(desk, alice):
    number = (await file_ticket(desk.client, alice, anonymous=True))["number"]
    await desk.ok("agent01", number, "dispatch", department="cgj")
    await desk.ok("dept-cgj", number, "sign")
    await desk.ok("dept-cgj", number, "reply", reply="已约谈店主")
    comment = "油烟依旧，请回电13912345678"
    rated = await desk.client.post(f"/api/v1/tickets/{number}/rating", json={"level": "不满意", "comment": comment},
                                   headers=alice)
    assert rated.status == 200, await rated.text()
    lead = await desk.ticket("dept-cgj", number)
    assert [r["comment"] for r in lead["ratings"]] == ["油烟依旧，请回电139****5678"]
    assert comment not in str(lead)
    assert [r["comment"] for r in (await desk.ticket("agent01", number))["ratings"]] == [comment]


async def test_a_staff_search_that_finds_a_citizens_ticket_is_in_their_access_log(desk, alice):
    number = (await file_ticket(desk.client, alice))["number"]
    found = await (await desk.get("agent01", f"/search?q={ALICE['phone']}")).json()
    assert [t["number"] for t in found["tickets"]] == [number]
    assert await (await desk.get("agent01", "/search?q=13000000000")).json() == {"tickets": [], "next": None}
    log = await (await desk.client.get("/api/v1/me/access-log", headers=alice)).json()
    assert [(r["reader_type"], r["reader"], r["resource"]) for r in log] == [
        ("staff", "12345热线（agent01姓名）", f"12345工单检索 {number}")]


async def test_mine_is_only_mine(hotline_client, alice, bob):
    number = (await file_ticket(hotline_client, alice))["number"]
    response = await hotline_client.get(f"/api/v1/tickets/{number}", headers=bob)
    assert response.status == 404 and (await response.json())["error"]["code"] == "ticket_not_found"
    refused = await hotline_client.post(f"/api/v1/tickets/{number}/withdraw", json={}, headers=bob)
    assert refused.status == 404
    assert await (await hotline_client.get("/api/v1/me/tickets", headers=bob)).json() == []
    assert [t["number"] for t in await (await hotline_client.get("/api/v1/me/tickets", headers=alice)).json()] == [number]


async def test_a_department_sees_only_its_tickets_and_anonymous_callers_stay_anonymous(desk):
    # the caller said their numbers in the call, and the agent noted one again when dispatching
    content = "我是赵某，电话13912345678，身份证11010519491231002X，小区门前路灯不亮已经一周。"
    number = (await desk.call(content=content, anonymous=True))["number"]
    await desk.ok("agent01", number, "dispatch", department="cgj", assist_departments=["zjj"],
                  note="来电人回拨号码 13912345678")
    lead = await desk.ticket("dept-cgj", number)
    assert lead["contact_name"] == "匿名" and lead["contact_phone"] is None
    assert lead["content"] == "我是赵某，电话139****5678，身份证110105********002X，小区门前路灯不亮已经一周。"
    assert lead["preview"] == lead["content"][:60]
    assert [s["note"] for s in lead["timeline"]][-1] == "来电人回拨号码 139****5678"
    queue = await (await desk.get("dept-cgj", "/queues/department")).json()
    assert number in [t["number"] for t in queue["tickets"]]
    assert "13912345678" not in str(queue) and "11010519491231002X" not in str(queue)
    hotline_view = await desk.ticket("agent01", number)
    assert hotline_view["content"] == content and hotline_view["timeline"][-1]["note"] == "来电人回拨号码 13912345678"
    assist = await desk.ticket("dept-zjj", number)
    assert [a["name"] for a in assist["actions"]] == ["assist_note"] and assist["contact_phone"] is None
    other = await desk.get("dept-jtj", f"/tickets/{number}")
    assert other.status == 404
    assert (await desk.ticket("agent01", number))["contact_phone"] == "13912345678"  # the hotline still sees it
    found = await (await desk.get("dept-cgj", "/search?q=13912345678")).json()
    assert found["tickets"] == []  # nor can a department find an anonymous caller by phone


# --- every refused transition -----------------------------------------------------------------

ROLE_OF = {"agent01": {rules.AGENT}, "super01": {rules.SUPERVISOR}, "dept-cgj": {rules.LEAD},
           "dept-zjj": {rules.ASSIST}}
ARGS = {"dispatch": {"department": "cgj"}, "redispatch": {"department": "jtj", "note": "改派"},
        "answer": {"reply": "答复"}, "refuse_return": {"note": "理由"}, "refuse_extension": {"note": "理由"},
        "callback": {"note": "回访"}, "judge_rating": {"reasonable": True}, "return": {"note": "不属本单位职责"},
        "request_extension": {"days": 3, "note": "需现场勘查"}, "reply": {"reply": "已处理"},
        "assist_note": {"note": "协办意见"}, "classify": {"difficulty": "general"}, "urge": {"note": "请尽快办理"}}


async def _in_state(desk: Desk, state: str, citizen: dict | None = None) -> str:
    """A ticket driven to `state` through the API: a phone call, or with `citizen` (a bound
    citizen's headers) that citizen's own, which the states only a citizen can lead to need (a
    rating before 重办, withdrawal)."""
    if citizen is None:
        number = (await desk.call())["number"]
    else:
        number = (await file_ticket(desk.client, citizen))["number"]
    steps = {
        "registered": [],
        "dispatched": [("agent01", "dispatch", {"department": "cgj", "assist_departments": ["zjj"]})],
        "returned": [("agent01", "dispatch", {"department": "cgj", "assist_departments": ["zjj"]}),
                     ("dept-cgj", "return", {"note": "不属本单位职责"})],
        "signed": [("agent01", "dispatch", {"department": "cgj", "assist_departments": ["zjj"]}),
                   ("dept-cgj", "sign", {})],
    }
    steps["extension_requested"] = steps["signed"] + [("dept-cgj", "request_extension", {"days": 3, "note": "勘查"})]
    steps["replied"] = steps["signed"] + [("dept-cgj", "reply", {"reply": "已处理"})]
    steps["callback_done"] = steps["replied"] + [("agent01", "callback", {"note": "已回访"})]
    steps["closed"] = steps["callback_done"] + [("agent01", "close", {})]
    steps["reopened"] = steps["replied"] + [("citizen", "rating", {"level": "不满意", "comment": "油烟依旧"}),
                                            ("agent01", "judge_rating", {"reasonable": True}),
                                            ("agent01", "reopen", {})]
    steps["withdrawn"] = steps["dispatched"] + [("citizen", "withdraw", {})]
    for who, action, body in steps[state]:
        if who == "citizen":
            response = await desk.client.post(f"/api/v1/tickets/{number}/{action}", json=body, headers=citizen)
            assert response.status == 200, await response.text()
        else:
            await desk.ok(who, number, action, **body)
    return number


STAFF_STATES = ["registered", "dispatched", "returned", "signed", "extension_requested", "replied",
                "callback_done", "closed", "reopened", "withdrawn"]


@pytest.mark.timeout(150)
async def test_every_refused_transition_has_a_code_and_changes_nothing(desk, alice):
    from hotline.console_api import STAFF_ACTIONS

    assert set(STAFF_STATES) == set(rules.STATES)
    refused = 0
    for state in STAFF_STATES:
        number = await _in_state(desk, state, alice if state in ("reopened", "withdrawn") else None)
        before = await desk.ticket("agent01", number)
        for who, parties in ROLE_OF.items():
            for action in STAFF_ACTIONS:
                spec = rules.ACTIONS[action]
                if spec.parties & parties and state in spec.from_states:
                    continue  # allowed: covered by the lifecycle tests
                response = await desk.act(who, number, action, **ARGS.get(action, {}))
                body = await response.json()
                if not spec.parties & parties:
                    expected = (403, "action_not_allowed_for_role")
                else:
                    expected = (409, "action_not_allowed_in_state")
                if who.startswith("dept-") and state == "registered":
                    expected = (404, "ticket_not_found")  # not dispatched to them: not theirs to see
                assert (response.status, body["error"]["code"]) == expected, (state, who, action, body)
                assert body["error"]["message"]
                refused += 1
        assert await desk.ticket("agent01", number) == before, state
    assert refused > 400


async def test_citizen_actions_are_refused_in_the_wrong_state(hotline_client, desk, alice):
    number = (await file_ticket(hotline_client, alice))["number"]
    early = await hotline_client.post(f"/api/v1/tickets/{number}/rating", json={"level": "满意"}, headers=alice)
    assert early.status == 409 and (await early.json())["error"]["code"] == "action_not_allowed_in_state"
    await desk.ok("agent01", number, "answer", reply="您好，该事项由市场监管部门负责，已为您转告。")
    late = await hotline_client.post(f"/api/v1/tickets/{number}/withdraw", json={}, headers=alice)
    assert late.status == 409 and (await late.json())["error"]["code"] == "action_not_allowed_in_state"
    added = await hotline_client.post(f"/api/v1/tickets/{number}/supplements", json={"text": "补充"}, headers=alice)
    assert added.status == 409


async def test_a_staff_action_the_citizen_owns_is_not_offered_to_staff(desk):
    number = (await desk.call())["number"]
    for action in ("withdraw", "rate", "supplement", "fly"):
        response = await desk.act("agent01", number, action)
        assert response.status == 400 and (await response.json())["error"]["code"] == "unknown_action"


# --- 退单 and 改派 ---------------------------------------------------------------------------------


async def test_a_return_is_allowed_within_two_working_days_of_dispatch_only(desk, clock):
    clock.set(datetime(2026, 11, 19, 9, 0, tzinfo=SHANGHAI))  # Thursday
    late = (await desk.call())["number"]
    on_time = (await desk.call())["number"]
    for number in (late, on_time):
        await desk.ok("agent01", number, "dispatch", department="cgj")
    assert (await desk.ticket("dept-cgj", late))["return_due_date"] == "2026-11-23"  # Fri, Mon
    clock.set(datetime(2026, 11, 23, 23, 0, tzinfo=SHANGHAI))
    await desk.ok("dept-cgj", on_time, "return", note="应由住建部门办理")
    clock.set(datetime(2026, 11, 24, 8, 30, tzinfo=SHANGHAI))
    response = await desk.act("dept-cgj", late, "return", note="应由住建部门办理")
    assert response.status == 409 and (await response.json())["error"]["code"] == "return_window_passed"
    missing = await desk.act("dept-cgj", late, "sign")
    assert missing.status == 200  # still theirs to handle
    no_reason = await desk.act("agent01", on_time, "refuse_return")
    assert (await no_reason.json())["error"]["code"] == "reason_required"


async def test_returns_and_redispatch_keep_the_clock(desk, clock):
    created = await desk.call()
    number, due = created["number"], created["deadline"]["due_date"]
    assert due == "2026-11-25"
    await desk.ok("agent01", number, "dispatch", department="cgj")
    clock.set(datetime(2026, 11, 19, 9, 0, tzinfo=SHANGHAI))
    await desk.ok("dept-cgj", number, "return", note="不属本单位职责")
    clock.set(datetime(2026, 11, 20, 9, 0, tzinfo=SHANGHAI))  # the hotline decides a day later
    back = await desk.ok("agent01", number, "refuse_return", note="属城管执法职责，请办理")
    assert back["state"] == "dispatched" and back["lead_department"] == "cgj"
    assert back["sign_due_date"] == "2026-11-23"  # a sign-for day from the refusal, not the one gone by
    again = await desk.act("dept-cgj", number, "return", note="确实不属本单位职责")
    assert (again.status, (await again.json())["error"]["code"]) == (409, "return_already_refused")
    await desk.ok("dept-cgj", number, "sign")
    moved = await desk.ok("agent01", number, "redispatch", department="zjj", note="涉及违建，改派住建局")
    assert moved["state"] == "dispatched" and moved["lead_department"] == "zjj"
    assert moved["deadline"]["due_date"] == due  # 改派不重新计时
    assert moved["sign_due_date"] == "2026-11-23"  # the new department's own sign-for day
    assert (await desk.get("dept-cgj", f"/tickets/{number}")).status == 404  # no longer theirs
    same = await desk.act("agent01", number, "redispatch", department="zjj", note="再派")
    assert (await same.json())["error"]["code"] == "same_department"
    await desk.ok("dept-zjj", number, "return", note="不属本单位")
    accepted = await desk.ok("agent01", number, "accept_return")
    assert accepted["state"] == "registered" and accepted["lead_department"] is None
    assert accepted["dispatched_at"] is None
    again = await desk.ok("agent01", number, "dispatch", department="jtj")
    assert again["deadline"]["due_date"] == due


# --- extensions -------------------------------------------------------------------------------


async def test_an_extension_is_capped_at_ten_working_days_and_granted_once(desk, clock):
    number = await _in_state(desk, "signed")
    for days, code in ((11, "extension_too_long"), (0, "extension_too_long")):
        response = await desk.act("dept-cgj", number, "request_extension", days=days, note="需勘查")
        assert (await response.json())["error"]["code"] == code
    no_reason = await desk.act("dept-cgj", number, "request_extension", days=10)
    assert (await no_reason.json())["error"]["code"] == "reason_required"
    requested = await desk.ok("dept-cgj", number, "request_extension", days=10, note="需要现场勘查和第三方检测")
    assert requested["state"] == "extension_requested" and requested["extension_requested_days"] == 10
    too_many = await desk.act("agent01", number, "approve_extension", days=11)
    assert (await too_many.json())["error"]["code"] == "extension_too_long"
    approved = await desk.ok("agent01", number, "approve_extension")
    assert approved["state"] == "signed"
    # 5 + 10 working days from Wed 18 November: 25 Nov is the 5th, then 10 more → 9 December.
    assert approved["deadline"]["due_date"] == "2026-12-09" and approved["deadline"]["working_days"] == 15
    twice = await desk.act("dept-cgj", number, "request_extension", days=2, note="还要再等")
    assert (await twice.json())["error"]["code"] == "extension_already_used"


async def test_a_refused_extension_is_final_and_none_after_the_deadline(desk, clock):
    number = await _in_state(desk, "extension_requested")
    refused = await desk.ok("agent01", number, "refuse_extension", note="可在时限内办结")
    assert refused["state"] == "signed" and refused["deadline"]["due_date"] == "2026-11-25"
    again = await desk.act("dept-cgj", number, "request_extension", days=2, note="再申请")
    assert (await again.json())["error"]["code"] == "extension_already_used"
    late = await _in_state(desk, "signed")
    clock.set(datetime(2026, 11, 26, 0, 0, 1, tzinfo=SHANGHAI))
    response = await desk.act("dept-cgj", late, "request_extension", days=2, note="来不及")
    assert (await response.json())["error"]["code"] == "deadline_passed"


# --- ratings, 重办, withdrawal -----------------------------------------------------------------


async def test_a_bad_rating_is_judged_and_a_reasonable_one_reopens_with_five_new_working_days(
        hotline_client, desk, alice, clock):
    client = hotline_client
    number = (await file_ticket(client, alice))["number"]
    await desk.ok("agent01", number, "dispatch", department="cgj")
    await desk.ok("dept-cgj", number, "sign")
    await desk.ok("dept-cgj", number, "reply", reply="已处理。")
    assert await offered(desk, number) == ["callback"]
    premature = await desk.act("agent01", number, "reopen")
    assert (await premature.json())["error"]["code"] == "reopen_needs_reasonable_rating"
    bare = await client.post(f"/api/v1/tickets/{number}/rating", json={"level": "不满意"}, headers=alice)
    assert (await bare.json())["error"]["code"] == "rating_reason_required"
    rated = await client.post(f"/api/v1/tickets/{number}/rating",
                              json={"level": "不满意", "comment": "油烟问题没有解决"}, headers=alice)
    assert rated.status == 200
    assert (await rated.json())["can_rate"] is False
    twice = await client.post(f"/api/v1/tickets/{number}/rating", json={"level": "满意"}, headers=alice)
    assert (await twice.json())["error"]["code"] == "already_rated"
    assert await offered(desk, number) == ["callback", "judge_rating"]
    queue = await (await desk.get("agent01", "/queues/ratings")).json()
    assert [t["number"] for t in queue["tickets"]] == [number]

    clock.set(datetime(2026, 11, 27, 10, 0, tzinfo=SHANGHAI))  # Friday
    judged = await desk.ok("agent01", number, "judge_rating", reasonable=True, note="经核实问题仍存在")
    assert judged["ratings"][0]["reasonable"] is True
    assert [a["name"] for a in judged["actions"]] == ["callback", "reopen"]
    again = await desk.act("agent01", number, "judge_rating", reasonable=False)
    assert (await again.json())["error"]["code"] == "no_rating_to_judge"
    reopened = await desk.ok("agent01", number, "reopen", note="合理差评，重办")
    assert reopened["state"] == "reopened" and reopened["reopen_count"] == 1
    assert reopened["deadline"]["due_date"] == "2026-12-04"  # Mon 30 Nov … Fri 4 Dec
    assert reopened["lead_department"] == "cgj" and reopened["reply"] is None
    assert moment(reopened["dispatched_at"]) == datetime(2026, 11, 27, 10, 0, tzinfo=SHANGHAI)  # to cgj anew
    await desk.ok("dept-cgj", number, "sign")
    await desk.ok("dept-cgj", number, "reply", reply="已安装净化设备并复查合格。")
    second = await client.post(f"/api/v1/tickets/{number}/rating", json={"level": "满意"}, headers=alice)
    assert second.status == 200  # a new answer may be rated again
    ticket = await stored(client, number)
    assert ticket.reopen_count == 1 and ticket.state == "replied"


async def offered(desk: Desk, number: str) -> list[str]:
    return [a["name"] for a in (await desk.ticket("agent01", number))["actions"]]


async def test_a_reasonable_bad_rating_of_the_hotlines_own_answer_goes_back_to_the_agents(hotline_client, desk,
                                                                                         alice, clock):
    client = hotline_client
    number = (await file_ticket(client, alice))["number"]
    await desk.ok("agent01", number, "answer", reply="该诉求已转交物业处理。")
    await client.post(f"/api/v1/tickets/{number}/rating", json={"level": "不满意", "comment": "物业没有处理"},
                      headers=alice)
    clock.set(datetime(2026, 11, 27, 10, 0, tzinfo=SHANGHAI))  # Friday
    await desk.ok("agent01", number, "judge_rating", reasonable=True, note="应派单办理")
    reopened = await desk.ok("agent01", number, "reopen", note="合理差评，派单办理")
    assert (reopened["state"], reopened["reopen_count"], reopened["lead_department"]) == ("registered", 1, None)
    assert reopened["deadline"]["due_date"] == "2026-12-04"  # five new working days: Mon 30 Nov … Fri 4 Dec
    assert {"dispatch", "answer"} <= {a["name"] for a in reopened["actions"]}
    await desk.ok("agent01", number, "dispatch", department="cgj")
    await desk.ok("dept-cgj", number, "sign")
    extended = await desk.ok("dept-cgj", number, "request_extension", days=2, note="需协调物业")  # its own round
    assert extended["state"] == "extension_requested"
    await desk.ok("dept-cgj", number, "reply", reply="已督促物业清理。")
    again = await client.post(f"/api/v1/tickets/{number}/rating", json={"level": "满意"}, headers=alice)
    assert again.status == 200


async def test_an_unreasonable_bad_rating_cannot_reopen(hotline_client, desk, alice):
    number = (await file_ticket(hotline_client, alice))["number"]
    await desk.ok("agent01", number, "answer", reply="该诉求已转交物业处理。")
    await hotline_client.post(f"/api/v1/tickets/{number}/rating", json={"level": "非常不满意", "comment": "不满意"},
                              headers=alice)
    await desk.ok("agent01", number, "judge_rating", reasonable=False, note="已按政策答复")
    assert await offered(desk, number) == ["callback"]
    response = await desk.act("agent01", number, "reopen")
    assert (await response.json())["error"]["code"] == "reopen_needs_reasonable_rating"


async def test_the_citizen_withdraws_and_the_department_can_do_nothing_more(hotline_client, desk, alice):
    number = (await file_ticket(hotline_client, alice))["number"]
    await desk.ok("agent01", number, "dispatch", department="cgj")
    added = await hotline_client.post(f"/api/v1/tickets/{number}/supplements", json={"text": "门牌号是88号"},
                                      headers=alice)
    assert added.status == 200
    withdrawn = await hotline_client.post(f"/api/v1/tickets/{number}/withdraw", json={"text": "已自行解决"},
                                          headers=alice)
    body = await withdrawn.json()
    assert withdrawn.status == 200 and body["state"] == "withdrawn" and not body["can_withdraw"]
    response = await desk.act("dept-cgj", number, "sign")
    assert response.status == 409
    detail = await desk.ticket("agent01", number)
    assert detail["actions"] == [] and detail["card"] == "none"
    assert [s["action"] for s in detail["timeline"]][-2:] == ["supplement", "withdraw"]


# --- registration input -----------------------------------------------------------------------


async def test_bad_input_is_refused_with_a_code_and_nothing_is_written(hotline_client, desk, alice):
    cases = [
        ({"type": "表扬", "content": "x"}, "invalid_input"),
        ({"content": "   "}, "content_required"),
        ({"content": "x", "phone": "12345"}, "invalid_input"),
        ({"content": "x", "extra": 1}, "invalid_input"),
    ]
    for body, code in cases:
        response = await hotline_client.post("/api/v1/tickets", json=body, headers=alice)
        assert response.status == 400 and (await response.json())["error"]["code"] == code, body
    call = await desk.post("agent01", "/tickets", {"type": "投诉", "content": "x", "category": "不存在的分类"})
    assert (await call.json())["error"]["code"] == "unknown_category"
    wrong = await desk.act("agent01", (await desk.call())["number"], "dispatch", department="nope")
    assert (await wrong.json())["error"]["code"] == "unknown_department"
    assert [t["number"] for t in await (await hotline_client.get("/api/v1/me/tickets", headers=alice)).json()] == []


async def test_ticket_numbers_follow_a_daily_sequence(desk, clock):
    first = (await desk.call())["number"]
    second = (await desk.call())["number"]
    clock.set(datetime(2026, 11, 19, 0, 0, 5, tzinfo=SHANGHAI))
    third = (await desk.call())["number"]
    assert (first, second, third) == ("GD20261118000001", "GD20261118000002", "GD20261119000001")


async def test_an_unbound_user_cannot_file_and_an_anonymous_request_gets_401(hotline_client, fake_wechat):
    complaint = {"type": "投诉", "content": "小区门口井盖缺失", "location": "滨江路88号"}
    assert (await hotline_client.post("/api/v1/tickets", json=complaint)).status == 401
    unbound = await login(hotline_client, fake_wechat, "openid-unbound")
    assert unbound["bound"] is False
    response = await hotline_client.post("/api/v1/tickets", json=complaint,
                                         headers={"Authorization": unbound["Authorization"]})
    assert response.status == 404 and (await response.json())["error"]["code"] == "not_bound"
    assert await count_rows(hotline_client.server.app, Ticket) == 0
