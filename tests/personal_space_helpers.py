"""What the personal-space tests share: signed integration calls, the service they go to, a
logged-in and bound citizen."""

from __future__ import annotations

import itertools
import time
import uuid

import orjson
import pytest

from core.integration import sign
from server import create_app

ELIC, IDP = "elic", "idp"  # the e-licence library and the identity provider
SECRETS = {ELIC: "elic-secret-0123456789", IDP: "idp-secret-0123456789ab"}
ALICE = {"id_number": "11010519491231002X", "name": "张三", "phone": "13800138000"}
BOB = {"id_number": "420704199001011231", "name": "李四", "phone": "13900139000"}
CAROL = {"id_number": "110101199003074477", "name": "王五", "phone": "13700137000"}
COMPANY = {"type": "enterprise", "id": "91350200776049653A", "name": "某某餐饮有限公司"}
_events = itertools.count(1)


def signed_request(path: str, body: dict, *, client_id: str = ELIC, secret: str | None = None,
                   timestamp: int | None = None, nonce: str | None = None,
                   now: float | None = None) -> tuple[bytes, dict[str, str]]:
    """`body` as sent and the headers that sign a POST of it to `path` as `client_id` would
    (PRODUCT.md §5): apart, so that a test can send the very same bytes twice."""
    raw = orjson.dumps(body)
    ts = str(timestamp if timestamp is not None else int(now if now is not None else time.time()))
    nonce = nonce or uuid.uuid4().hex
    signature = sign(secret or SECRETS.get(client_id, "x" * 16), "POST", path, ts, nonce, raw)
    return raw, {"Content-Type": "application/json", "X-Client-Id": client_id, "X-Timestamp": ts, "X-Nonce": nonce,
                 "X-Signature": signature}


async def signed(client, path: str, body: dict, **signing):
    """POST `body` to an integration path, signed as `signed_request` signs it."""
    raw, headers = signed_request(path, body, **signing)
    return await client.post(path, data=raw, headers=headers)


def signer(client, clock):
    """`post(path, body, **signing)`: integration calls to `client` signed at `clock`'s time,
    which a test may move between calls."""
    async def post(path: str, body: dict, **signing):
        return await signed(client, path, body, now=clock.now().timestamp(), **signing)
    return post


def event_id(prefix: str) -> str:
    return f"{prefix}-{next(_events)}-{uuid.uuid4().hex[:6]}"


def licence(holder: dict, kind: str = "食品经营许可证", *, licence_id: str | None = None, version: int = 1,
            valid_until: str | None = "2026-12-31", status: str = "valid", **extra) -> dict:
    holder = holder if "type" in holder else {"type": "person", "id": holder["id_number"], "name": holder["name"]}
    return {"event_id": event_id("lic"), "licence_id": licence_id or uuid.uuid4().hex, "version": version,
            "kind": kind, "number": f"N-{uuid.uuid4().hex[:8]}", "holder": holder, "issuer": "鄂州市市场监督管理局",
            "issued_on": "2021-12-01", "valid_until": valid_until, "status": status, **extra}


@pytest.fixture
async def app_client(aiohttp_client, make_settings, clock, fake_wechat):
    """The whole service with both integration clients, logging in through the fake WeChat."""
    settings = make_settings(integration_clients=SECRETS, **fake_wechat.settings())
    return await aiohttp_client(create_app(settings, clock=clock))


TEMPLATES = {"licence_expiry": "TPL-EXPIRY", "application_state": "TPL-APP", "deferred_material": "TPL-DEFER"}


@pytest.fixture
async def subscribe_client(aiohttp_client, make_settings, clock, fake_wechat):
    """The whole service sending its notices by WeChat subscribe message (so they name an openid)."""
    settings = make_settings(integration_clients=SECRETS, notify_channel="wechat_subscribe",
                             wechat_templates=TEMPLATES, **fake_wechat.settings())
    return await aiohttp_client(create_app(settings, clock=clock))


async def login(client, fake, openid: str) -> dict:
    """wx.login through the fake WeChat as `openid`: the bearer header and whether it is bound."""
    code = f"code-{openid}-{fake.requests.count('/sns/jscode2session')}"
    fake.add_code(code, openid)
    response = await client.post("/api/v1/auth/login", json={"code": code})
    assert response.status == 200, await response.text()
    body = await response.json()
    return {"Authorization": f"Bearer {body['token']}", "bound": body["bound"]}


async def bind(post, openid: str, who: dict) -> None:
    """The identity provider binds `openid` to the person `who` (`post`: a `signer`)."""
    response = await post("/integration/v1/identity-bindings", {"event_id": event_id("idp"), "openid": openid, **who},
                          client_id=IDP)
    assert response.status == 200, await response.text()


async def citizen(client, fake, post, openid: str, who: dict) -> dict:
    """A logged-in, bound citizen's headers."""
    headers = await login(client, fake, openid)
    await bind(post, openid, who)
    return {"Authorization": headers["Authorization"]}
