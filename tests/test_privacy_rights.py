"""The caller's rights over their own data, over HTTP: logging out, a copy of everything held
about them, and undoing the real-name binding (with what was still to be sent to them)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.db import transaction
from core.outbox import PERMANENT, OutboxMessage
from miniapp_api.privacy import UNBOUND_REASON
from tests.personal_space_helpers import (  # noqa: F401 - subscribe_client is a fixture
    ALICE, BOB, bind, citizen, event_id, licence, login, signer, subscribe_client,
)

NUMBER = "SX20261105000123"


@pytest.fixture
def client(subscribe_client):
    return subscribe_client


@pytest.fixture
def post(client, clock):
    return signer(client, clock)


@pytest.fixture
async def alice(client, fake_wechat, post) -> dict:
    return await citizen(client, fake_wechat, post, "openid-alice", ALICE)


@pytest.fixture
async def bob(client, fake_wechat, post) -> dict:
    return await citizen(client, fake_wechat, post, "openid-bob", BOB)


async def _application(post, who: dict, number: str = NUMBER, state: str = "accepted") -> None:
    body = {"event_id": event_id("app"), "application_no": number, "query_password": "839201",
            "item_code": "KE-FOOD-01", "item_name": "食品经营许可（新办）", "department": "市市场监管局",
            "applicant": {"type": "person", "id": who["id_number"], "name": who["name"]},
            "state": state, "occurred_at": "2026-11-05T10:12:00+08:00", "promised_working_days": 10}
    response = await post("/integration/v1/application-events", body)
    assert response.status == 200, await response.text()


async def _messages(client, recipient: str) -> list[OutboxMessage]:
    async with transaction(client.server.app) as session:
        return list(await session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == recipient)
                                          .order_by(OutboxMessage.id)))


async def test_logout_ends_the_token_at_once(client, alice):
    assert (await client.get("/api/v1/me", headers=alice)).status == 200
    ended = await client.post("/api/v1/auth/logout", headers=alice)
    assert ended.status == 200 and await ended.json() == {"logged_out": True}
    after = await client.get("/api/v1/me", headers=alice)
    assert (after.status, (await after.json())["error"]["code"]) == (401, "session_expired")
    assert (await client.post("/api/v1/auth/logout", headers=alice)).status == 200  # twice is no error
    anonymous = await client.post("/api/v1/auth/logout")
    assert (anonymous.status, (await anonymous.json())["error"]["code"]) == (401, "unauthenticated")


async def test_unbinding_ends_what_the_account_sees_and_withholds_what_was_to_be_sent(client, post, alice, bob,
                                                                                      fake_wechat):
    await _application(post, ALICE)
    await _application(post, BOB, number="SX20261105000124")
    assert (await client.get(f"/api/v1/applications/{NUMBER}", headers=alice)).status == 200

    response = await client.delete("/api/v1/me/binding", headers=alice)
    assert response.status == 200 and await response.json() == {"bound": False, "withheld_messages": 1}
    [withheld] = await _messages(client, ALICE["id_number"])
    assert (withheld.state, withheld.last_error, withheld.address) == (PERMANENT, UNBOUND_REASON, "openid-alice")
    assert [m.state for m in await _messages(client, BOB["id_number"])] == ["created"]  # nobody else's

    assert (await (await client.get("/api/v1/me", headers=alice)).json())["bound"] is False  # still logged in
    documents = await client.get("/api/v1/me/documents", headers=alice)
    assert (documents.status, (await documents.json())["error"]["code"]) == (404, "not_bound")
    assert (await client.get(f"/api/v1/applications/{NUMBER}", headers=alice)).status == 404
    assert (await client.get("/api/v1/me/tickets", headers=alice)).status == 404
    again = await client.delete("/api/v1/me/binding", headers=alice)
    assert (again.status, (await again.json())["error"]["code"]) == (404, "not_bound")

    # a later notice about the person no longer goes to that WeChat account
    await _application(post, ALICE, state="in_review")
    assert [(m.channel, m.address) for m in await _messages(client, ALICE["id_number"])][-1] == ("console", "console")
    # the records stayed: binding again shows them again
    await bind(post, "openid-alice", ALICE)
    mine = await (await client.get("/api/v1/me/applications", headers=alice)).json()
    assert [(a["application_no"], a["state"]) for a in mine] == [(NUMBER, "in_review")]


async def test_the_export_holds_everything_about_me_whole_and_nothing_about_anyone_else(client, post, alice, bob,
                                                                                       clock):
    await post("/integration/v1/licences", licence(ALICE, kind="机动车驾驶证"))
    await post("/integration/v1/licences", licence(BOB, kind="机动车驾驶证"))
    await _application(post, ALICE)
    await _application(post, BOB, number="SX20261105000124")
    filed = await client.post("/api/v1/tickets", json={"content": "小区路灯不亮已经一周"}, headers=alice)
    assert filed.status == 201
    read = await client.get(f"/api/v1/applications/{NUMBER}", params={"password": "839201"}, headers=bob)
    assert read.status == 200

    response = await client.get("/api/v1/me/export", headers=alice)
    assert response.status == 200
    assert response.headers["Content-Disposition"].startswith('attachment; filename="personal-data-')
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.json()
    assert body["person"] == {"name": ALICE["name"], "id_number": ALICE["id_number"], "phone": ALICE["phone"]}
    assert [(a["openid"], a["this_account"]) for a in body["wechat_accounts"]] == [("openid-alice", True)]
    assert [d["kind"] for d in body["documents"]] == ["机动车驾驶证"]
    assert [(a["application_no"], a["applicant_name"], len(a["timeline"])) for a in body["applications"]] == [
        (NUMBER, ALICE["name"], 1)]
    assert [t["number"] for t in body["tickets"]] == [(await filed.json())["number"]]
    assert {m["kind"] for m in body["messages"]} >= {"application_state"}
    assert [(r["reader_type"], r["reader"]) for r in body["access_log"]] == [
        ("query_password", "李四（420704********1231）")]
    assert BOB["id_number"] not in str(body) and "SX20261105000124" not in str(body)

    # exporting is the owner's own read: it is not in their access log
    log = await (await client.get("/api/v1/me/access-log", headers=alice)).json()
    assert [r["reader_type"] for r in log] == ["query_password"]


async def test_only_a_bound_caller_has_a_copy_to_take(client, fake_wechat):
    stranger = await login(client, fake_wechat, "openid-nobody")
    response = await client.get("/api/v1/me/export", headers={"Authorization": stranger["Authorization"]})
    assert (response.status, (await response.json())["error"]["code"]) == (404, "not_bound")
    anonymous = await client.get("/api/v1/me/export")
    assert anonymous.status == 401
