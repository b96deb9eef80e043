"""The personal and enterprise space over HTTP, against PostgreSQL, Redis and the fake WeChat
server: login, binding, licence ingest, once-only checklists, 亮证, access control."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from core import keys
from personal_space.models import Document, Person
from server import create_app
from tests.personal_space_helpers import (  # noqa: F401 - app_client is a fixture
    ALICE, BOB, CAROL, COMPANY, IDP, app_client, bind, citizen, event_id, licence, login, signed, signer,
)
from tests.row_counts import count_rows


@pytest.fixture
def post(app_client, clock):
    return signer(app_client, clock)


# ── login and binding ──

async def test_login_exchanges_the_code_at_wechat_and_the_token_opens_me(app_client, fake_wechat):
    fake_wechat.add_code("code-1", "openid-1")
    response = await app_client.post("/api/v1/auth/login", json={"code": "code-1"})
    body = await response.json()
    assert response.status == 200 and body["bound"] is False and body["expires_in"] > 0
    me = await app_client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert (await me.json())["bound"] is False
    again = await app_client.post("/api/v1/auth/login", json={"code": "code-1"})  # a code works once
    assert again.status == 400 and (await again.json())["error"]["code"] == "invalid_login_code"


async def test_requests_without_a_live_session_are_refused(app_client):
    none = await app_client.get("/api/v1/me")
    assert none.status == 401 and (await none.json())["error"]["code"] == "unauthenticated"
    bogus = await app_client.get("/api/v1/me", headers={"Authorization": "Bearer not-a-token"})
    assert bogus.status == 401 and (await bogus.json())["error"]["code"] == "session_expired"


async def test_wechat_down_gives_a_clear_503(app_client, fake_wechat):
    fake_wechat.add_code("code-2", "openid-2")
    fake_wechat.fail_next("jscode2session", -1)
    response = await app_client.post("/api/v1/auth/login", json={"code": "code-2"})
    assert response.status == 503 and (await response.json())["error"]["code"] == "wechat_unavailable"


async def test_binding_makes_the_user_a_known_person_masked_everywhere(app_client, fake_wechat, post):
    headers = await login(app_client, fake_wechat, "openid-a")
    await bind(post, "openid-a", ALICE)
    me = await (await app_client.get("/api/v1/me", headers={"Authorization": headers["Authorization"]})).json()
    assert me == {"bound": True, "name": "张三", "id_number": "110105********002X", "phone": "138****8000",
                  "enterprises": []}
    assert (await login(app_client, fake_wechat, "openid-a"))["bound"] is True


async def test_a_binding_with_a_bad_id_number_is_refused_and_writes_nothing(app_client, post):
    response = await post("/integration/v1/identity-bindings",
                          {"event_id": "idp-bad", "openid": "o-x", **{**ALICE, "id_number": "110105194912310021"}},
                          client_id=IDP)
    body = await response.json()
    assert response.status == 400 and body["error"]["code"] == "invalid_id_number"
    assert await count_rows(app_client.server.app, Person) == 0
    retry = await post("/integration/v1/identity-bindings", {"event_id": "idp-bad", "openid": "o-x", **ALICE},
                       client_id=IDP)
    assert (await retry.json())["result"] == "applied"  # the refused event was not recorded as done


async def test_pushes_about_a_new_person_arriving_together_all_apply(app_client, post):
    # Both of a person's openids bound while their ID card arrives: three first sightings at once.
    responses = await asyncio.gather(
        post("/integration/v1/identity-bindings", {"event_id": event_id("idp"), "openid": "o-mp", **BOB},
             client_id=IDP),
        post("/integration/v1/identity-bindings", {"event_id": event_id("idp"), "openid": "o-oa", **BOB},
             client_id=IDP),
        post("/integration/v1/licences", licence(BOB, "居民身份证", valid_until="2036-05-01")))
    assert [r.status for r in responses] == [200, 200, 200], [await r.text() for r in responses]
    assert await count_rows(app_client.server.app, Person) == 1


async def test_versions_of_one_licence_pushed_together_end_at_the_newest(app_client, post):
    """Each round pushes versions 1 to 4 of a new licence at once: none is refused, one row is
    made, and an older version never overwrites a newer one."""
    for _ in range(3):
        licence_id = f"L-{event_id('race')}"
        responses = await asyncio.gather(*(post("/integration/v1/licences", licence(ALICE, licence_id=licence_id,
                                                                                     version=v)) for v in (1, 2, 3, 4)))
        assert [r.status for r in responses] == [200] * 4, [await r.text() for r in responses]
        async with app_client.server.app[keys.SESSIONS]() as session:
            stored = list(await session.scalars(select(Document.version).where(Document.licence_id == licence_id)))
        assert stored == [4]


async def test_an_event_id_used_again_for_another_kind_of_push_is_refused_not_dropped(app_client, clock):
    first = await signed(app_client, "/integration/v1/licences", {**licence(ALICE), "event_id": "evt-1001"},
                         client_id=IDP, now=clock.now().timestamp())
    assert first.status == 200
    binding = {"event_id": "evt-1001", "openid": "o-reused", **BOB}
    again = await signed(app_client, "/integration/v1/identity-bindings", binding, client_id=IDP,
                         now=clock.now().timestamp())
    body = await again.json()
    assert (again.status, body["error"]["code"]) == (409, "event_id_reused") and "event_id" in body["error"]["message"]
    assert await count_rows(app_client.server.app, Person) == 1  # nothing of the binding was written
    same = await signed(app_client, "/integration/v1/licences", {**licence(ALICE), "event_id": "evt-1001"},
                        client_id=IDP, now=clock.now().timestamp())
    assert (await same.json())["result"] == "duplicate"  # the same kind again is a duplicate, as before


async def test_a_double_tapped_first_login_gives_two_sessions(app_client, fake_wechat):
    for code in ("tap-1", "tap-2"):
        fake_wechat.add_code(code, "openid-new")
    responses = await asyncio.gather(*(app_client.post("/api/v1/auth/login", json={"code": code})
                                       for code in ("tap-1", "tap-2")))
    assert [r.status for r in responses] == [200, 200], [await r.text() for r in responses]
    tokens = [(await r.json())["token"] for r in responses]
    assert tokens[0] != tokens[1]
    for token in tokens:  # both sessions work, for the one account
        me = await app_client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status == 200


# ── the signed integration API ──

@pytest.mark.parametrize("tamper, code", [
    ({"secret": "wrong-secret-0123456789"}, "signature_invalid"),
    ({"client_id": "nobody"}, "unknown_client"),
    ({"timestamp_shift": -301}, "timestamp_out_of_window"),
    ({"timestamp_shift": 301}, "timestamp_out_of_window"),
])
async def test_bad_signatures_are_refused_and_nothing_is_written(app_client, clock, tamper, code):
    now = int(clock.now().timestamp())
    kwargs = {k: v for k, v in tamper.items() if k != "timestamp_shift"}
    response = await signed(app_client, "/integration/v1/licences", licence(ALICE),
                            timestamp=now + tamper.get("timestamp_shift", 0), **kwargs)
    assert response.status == 401 and (await response.json())["error"]["code"] == code
    assert await count_rows(app_client.server.app, Document) == 0


async def test_missing_signature_headers(app_client):
    response = await app_client.post("/integration/v1/licences", json=licence(ALICE))
    assert response.status == 401 and (await response.json())["error"]["code"] == "signature_missing"


async def test_a_replayed_nonce_is_refused_even_with_a_new_event(app_client, post):
    first = await post("/integration/v1/licences", licence(ALICE), nonce="nonce-1")
    assert first.status == 200
    replay = await post("/integration/v1/licences", licence(BOB), nonce="nonce-1")
    assert replay.status == 401 and (await replay.json())["error"]["code"] == "nonce_replayed"
    assert await count_rows(app_client.server.app, Document) == 1


async def test_the_same_event_twice_is_applied_once(app_client, post):
    event = licence(ALICE)
    results = [(await (await post("/integration/v1/licences", event)).json())["result"] for _ in range(2)]
    assert results == ["applied", "duplicate"]
    assert await count_rows(app_client.server.app, Document) == 1


async def test_versions_out_of_order_keep_the_newest(app_client, fake_wechat, post):
    headers = await citizen(app_client, fake_wechat, post, "openid-a", ALICE)
    v2 = licence(ALICE, "机动车驾驶证", licence_id="L-9", version=2, valid_until="2032-01-01")
    v1 = licence(ALICE, "机动车驾驶证", licence_id="L-9", version=1, valid_until="2026-01-01")
    assert (await (await post("/integration/v1/licences", v2)).json())["detail"] == "created"
    assert (await (await post("/integration/v1/licences", v1)).json())["detail"] == "unchanged"
    [document] = await (await app_client.get("/api/v1/me/documents", headers=headers)).json()
    assert document["valid_until"] == "2032-01-01" and document["valid_now"] is True


async def test_a_late_older_business_licence_changes_neither_the_representative_nor_the_name(
        app_client, fake_wechat, post):
    alice = await citizen(app_client, fake_wechat, post, "openid-a", ALICE)
    bob = await citizen(app_client, fake_wechat, post, "openid-b", BOB)

    def version(number: int, representative: dict, name: str) -> dict:
        return licence(COMPANY | {"name": name}, "营业执照", licence_id="BL-1", version=number, valid_until=None,
                       legal_representative={"id_number": representative["id_number"], "name": representative["name"]})

    await post("/integration/v1/licences", version(2, BOB, "某某餐饮有限公司"))
    late = await post("/integration/v1/licences", version(1, ALICE, "旧名称餐饮店"))
    assert (await late.json())["detail"] == "unchanged"
    assert (await app_client.get(f"/api/v1/enterprises/{COMPANY['id']}/space", headers=alice)).status == 404
    space = await (await app_client.get(f"/api/v1/enterprises/{COMPANY['id']}/space", headers=bob)).json()
    assert (space["name"], space["my_role"]) == ("某某餐饮有限公司", "legal_representative")


async def test_a_new_legal_representative_ends_what_the_previous_one_held_or_granted(app_client, fake_wechat, post):
    alice = await citizen(app_client, fake_wechat, post, "openid-a", ALICE)
    bob = await citizen(app_client, fake_wechat, post, "openid-b", BOB)
    carol = await citizen(app_client, fake_wechat, post, "openid-c", CAROL)
    space = f"/api/v1/enterprises/{COMPANY['id']}/space"

    def business_licence(number: int, representative: dict) -> dict:
        return licence(COMPANY, "营业执照", licence_id="BL-7", version=number, valid_until=None,
                       legal_representative={"id_number": representative["id_number"], "name": representative["name"]})

    await post("/integration/v1/licences", business_licence(1, ALICE))
    granted = await app_client.post(f"/api/v1/enterprises/{COMPANY['id']}/members", headers=alice,
                                    json={"id_number": BOB["id_number"], "name": BOB["name"], "valid_until": "2027-06-30"})
    assert granted.status == 201 and (await app_client.get(space, headers=bob)).status == 200
    await post("/integration/v1/licences", business_licence(2, CAROL))  # 变更登记: Carol now represents it
    assert (await app_client.get(space, headers=alice)).status == 404  # the former representative is out
    assert (await app_client.get(space, headers=bob)).status == 404  # and so is the agent she authorised
    now = await (await app_client.get(space, headers=carol)).json()
    assert now["my_role"] == "legal_representative"
    regranted = await app_client.post(f"/api/v1/enterprises/{COMPANY['id']}/members", headers=carol,
                                      json={"id_number": BOB["id_number"], "name": BOB["name"],
                                            "valid_until": "2027-06-30"})
    assert regranted.status == 201 and (await app_client.get(space, headers=bob)).status == 200


async def test_a_renewal_links_its_predecessor(app_client, fake_wechat, post):
    headers = await citizen(app_client, fake_wechat, post, "openid-a", ALICE)
    await post("/integration/v1/licences", licence(ALICE, "机动车驾驶证", licence_id="old", valid_until="2026-11-20",
                                                   status="cancelled"))
    await post("/integration/v1/licences", licence(ALICE, "机动车驾驶证", licence_id="new", valid_until="2032-11-20",
                                                   replaces="old"))
    listing = await (await app_client.get("/api/v1/me/documents", headers=headers)).json()
    old = next(d for d in listing if d["status"] == "cancelled")
    new = next(d for d in listing if d["status"] == "valid")
    assert new["predecessor_id"] == old["id"] and old["status_label"] == "注销"


async def test_an_expired_valid_licence_reads_as_expired(app_client, fake_wechat, post):
    headers = await citizen(app_client, fake_wechat, post, "openid-a", ALICE)
    await post("/integration/v1/licences", licence(ALICE, "健康证明", valid_until="2026-11-17"))
    [document] = await (await app_client.get("/api/v1/me/documents", headers=headers)).json()
    assert (document["status"], document["status_label"], document["valid_now"]) == ("expired", "过期", False)


# ── once only ──

async def _held(client, headers=None, **body) -> set[str]:
    response = await client.post("/api/v1/scenarios/open-restaurant/checklist", json={"answers": {}, **body},
                                 headers=headers or {})
    assert response.status == 200, await response.text()
    return {m["key"] for m in (await response.json())["materials"] if m["already_held"]}


async def test_a_checklist_for_an_enterprise_needs_a_well_formed_code_and_a_bound_caller(app_client, fake_wechat):
    url = "/api/v1/scenarios/open-restaurant/checklist"
    unbound = await login(app_client, fake_wechat, "openid-new")
    headers = {"Authorization": unbound["Authorization"]}
    malformed = await app_client.post(url, json={"enterprise": "91350200776049653B"}, headers=headers)
    assert (malformed.status, (await malformed.json())["error"]["code"]) == (400, "invalid_uscc")
    not_bound = await app_client.post(url, json={"enterprise": COMPANY["id"]}, headers=headers)
    assert (not_bound.status, (await not_bound.json())["error"]["code"]) == (404, "not_bound")
    assert (await app_client.post(url, json={}, headers=headers)).status == 200  # for themselves: fine, nothing held


async def test_the_checklist_marks_what_the_caller_and_their_enterprise_hold(app_client, fake_wechat, post):
    headers = await citizen(app_client, fake_wechat, post, "openid-a", ALICE)
    assert await _held(app_client) == set()
    assert await _held(app_client, headers) == set()
    await post("/integration/v1/licences", licence(ALICE, "居民身份证", valid_until="2036-01-01"))
    mine = await _held(app_client, headers)
    assert mine and all("id" in key for key in mine)
    await post("/integration/v1/licences", licence(COMPANY, "营业执照", valid_until=None,
                                                   legal_representative={"id_number": ALICE["id_number"],
                                                                         "name": ALICE["name"]}))
    with_company = await _held(app_client, headers, enterprise=COMPANY["id"])
    assert with_company > mine
    # a revoked licence is not held any more
    await post("/integration/v1/licences", licence(ALICE, "居民身份证", status="revoked"))
    assert await _held(app_client, headers) == mine  # the other, valid one still counts


async def test_acting_for_an_enterprise_one_is_not_a_member_of_is_not_found(app_client, fake_wechat, post):
    headers = await citizen(app_client, fake_wechat, post, "openid-b", BOB)
    response = await app_client.post("/api/v1/scenarios/open-restaurant/checklist",
                                     json={"answers": {}, "enterprise": COMPANY["id"]}, headers=headers)
    assert response.status == 404 and (await response.json())["error"]["code"] == "enterprise_not_found"


# ── 亮证 ──

async def test_show_code_verifies_for_five_minutes_with_the_holder_masked(app_client, fake_wechat, post, clock):
    headers = await citizen(app_client, fake_wechat, post, "openid-a", ALICE)
    await post("/integration/v1/licences", licence(ALICE, "机动车驾驶证", valid_until="2030-01-01"))
    [document] = await (await app_client.get("/api/v1/me/documents", headers=headers)).json()
    issued = await app_client.post(f"/api/v1/me/documents/{document['id']}/show-code", headers=headers)
    assert issued.status == 201
    code = (await issued.json())["code"]
    seen = await (await app_client.get(f"/api/v1/verify/{code}")).json()
    assert seen["holder_name"] == "张*" and seen["holder_id"] == "110105********002X"
    assert seen["kind"] == "机动车驾驶证" and seen["valid_now"] is True
    tampered = code[:-2] + ("AA" if not code.endswith("AA") else "BB")
    assert (await app_client.get(f"/api/v1/verify/{tampered}")).status == 404
    clock.advance(timedelta(seconds=301))
    expired = await app_client.get(f"/api/v1/verify/{code}")
    assert expired.status == 404 and (await expired.json())["error"]["code"] == "show_code_invalid"
    log = await (await app_client.get("/api/v1/me/access-log", headers=headers)).json()
    assert [entry["reader_type"] for entry in log] == ["verifier"]


# ── who may see what ──

async def test_access_control_matrix(app_client, fake_wechat, post, clock):
    alice = await citizen(app_client, fake_wechat, post, "openid-a", ALICE)
    bob = await citizen(app_client, fake_wechat, post, "openid-b", BOB)
    carol = await citizen(app_client, fake_wechat, post, "openid-c", CAROL)
    await post("/integration/v1/licences", licence(ALICE, "机动车驾驶证"))
    await post("/integration/v1/licences", licence(COMPANY, "食品经营许可证", legal_representative={
        "id_number": ALICE["id_number"], "name": ALICE["name"]}))
    [alices] = await (await app_client.get("/api/v1/me/documents", headers=alice)).json()
    space = await (await app_client.get(f"/api/v1/enterprises/{COMPANY['id']}/space", headers=alice)).json()
    [company_doc] = space["documents"]

    async def refused(path: str, headers: dict, code: str, method: str = "GET") -> None:
        response = await app_client.request(method, path, headers=headers)
        assert response.status == 404 and (await response.json())["error"]["code"] == code, path

    # another citizen's document looks exactly like one that does not exist
    await refused(f"/api/v1/me/documents/{alices['id']}", bob, "document_not_found")
    await refused("/api/v1/me/documents/does-not-exist", bob, "document_not_found")
    await refused(f"/api/v1/me/documents/{alices['id']}/show-code", bob, "document_not_found", "POST")
    assert await (await app_client.get("/api/v1/me/documents", headers=bob)).json() == []
    assert await (await app_client.get("/api/v1/me/access-log", headers=bob)).json() == []
    # a non-member, an unknown enterprise: the same answer
    await refused(f"/api/v1/enterprises/{COMPANY['id']}/space", bob, "enterprise_not_found")
    await refused("/api/v1/enterprises/91110000100000000B/space", bob, "enterprise_not_found")
    await refused(f"/api/v1/enterprises/{COMPANY['id']}/access-log", bob, "enterprise_not_found")
    # an agent sees the space until the grant's last day, then not
    grant = await app_client.post(f"/api/v1/enterprises/{COMPANY['id']}/members", headers=alice,
                                  json={"id_number": BOB["id_number"], "name": BOB["name"], "valid_until": "2026-11-20"})
    assert grant.status == 201, await grant.text()
    agent_view = await app_client.get(f"/api/v1/enterprises/{COMPANY['id']}/space", headers=bob)
    assert agent_view.status == 200 and (await agent_view.json())["members"] == []  # members: legal rep only
    assert (await app_client.get(f"/api/v1/me/documents/{company_doc['id']}", headers=bob)).status == 200
    await refused(f"/api/v1/enterprises/{COMPANY['id']}/access-log", bob, "enterprise_not_found")  # agents: no
    clock.advance(timedelta(days=3))  # 2026-11-21: the grant ended on the 20th
    await refused(f"/api/v1/enterprises/{COMPANY['id']}/space", bob, "enterprise_not_found")
    await refused(f"/api/v1/me/documents/{company_doc['id']}", bob, "document_not_found")
    # only the legal representative grants; a revoked agent is out at once
    not_rep = await app_client.post(f"/api/v1/enterprises/{COMPANY['id']}/members", headers=bob,
                                    json={"id_number": CAROL["id_number"], "name": CAROL["name"],
                                          "valid_until": "2027-01-01"})
    assert not_rep.status == 404
    await app_client.post(f"/api/v1/enterprises/{COMPANY['id']}/members", headers=alice,
                          json={"id_number": CAROL["id_number"], "name": CAROL["name"], "valid_until": "2027-01-01"})
    assert (await app_client.get(f"/api/v1/enterprises/{COMPANY['id']}/space", headers=carol)).status == 200
    revoked = await app_client.delete(f"/api/v1/enterprises/{COMPANY['id']}/members",
                                      params={"id_number": CAROL["id_number"]}, headers=alice)
    assert revoked.status == 200
    await refused(f"/api/v1/enterprises/{COMPANY['id']}/space", carol, "enterprise_not_found")
    # the legal representative sees who read the enterprise's data
    log = await (await app_client.get(f"/api/v1/enterprises/{COMPANY['id']}/access-log", headers=alice)).json()
    readers = {entry["reader"] for entry in log}
    assert any(r.startswith("李四（420704") for r in readers) and any(r.startswith("王五") for r in readers)
    assert all("19900101" not in r for r in readers)  # masked


async def test_demo_login_only_when_enabled(aiohttp_client, make_settings, clock):
    off = await aiohttp_client(create_app(make_settings(demo_data=True), clock=clock))
    assert (await off.post("/api/v1/auth/demo-login")).status == 404


async def test_demo_citizen_and_enterprise(aiohttp_client, make_settings, clock):
    client = await aiohttp_client(create_app(make_settings(demo_data=True, demo_login=True), clock=clock))
    body = await (await client.post("/api/v1/auth/demo-login")).json()
    headers = {"Authorization": f"Bearer {body['token']}"}
    assert body["bound"] is True
    me = await (await client.get("/api/v1/me", headers=headers)).json()
    assert me["name"] == "张三" and me["enterprises"][0]["role"] == "legal_representative"
    kinds = {d["kind"] for d in await (await client.get("/api/v1/me/documents", headers=headers)).json()}
    assert {"居民身份证", "机动车驾驶证"} <= kinds
