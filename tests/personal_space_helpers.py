"""What the personal-space tests share: signed integration calls, a logged-in citizen."""

from __future__ import annotations

import itertools
import time
import uuid

import orjson

from core.integration import sign

ELIC, IDP = "elic", "idp"  # the e-licence library and the identity provider
SECRETS = {ELIC: "elic-secret-0123456789", IDP: "idp-secret-0123456789ab"}
ALICE = {"id_number": "11010519491231002X", "name": "张三", "phone": "13800138000"}
BOB = {"id_number": "420704199001011231", "name": "李四", "phone": "13900139000"}
CAROL = {"id_number": "110101199003074477", "name": "王五", "phone": "13700137000"}
COMPANY = {"type": "enterprise", "id": "91350200776049653A", "name": "某某餐饮有限公司"}
_events = itertools.count(1)


async def signed(client, path: str, body: dict, *, client_id: str = ELIC, secret: str | None = None,
                 timestamp: int | None = None, nonce: str | None = None, now: float | None = None):
    """POST `body` to an integration path, signed as `client_id` would sign it."""
    raw = orjson.dumps(body)
    ts = str(timestamp if timestamp is not None else int(now if now is not None else time.time()))
    nonce = nonce or uuid.uuid4().hex
    signature = sign(secret or SECRETS.get(client_id, "x" * 16), "POST", path, ts, nonce, raw)
    return await client.post(path, data=raw, headers={"Content-Type": "application/json", "X-Client-Id": client_id,
                                                      "X-Timestamp": ts, "X-Nonce": nonce,
                                                      "X-Signature": signature})


def event_id(prefix: str) -> str:
    return f"{prefix}-{next(_events)}-{uuid.uuid4().hex[:6]}"


def licence(holder: dict, kind: str = "食品经营许可证", *, licence_id: str | None = None, version: int = 1,
            valid_until: str | None = "2026-12-31", status: str = "valid", **extra) -> dict:
    holder = holder if "type" in holder else {"type": "person", "id": holder["id_number"], "name": holder["name"]}
    return {"event_id": event_id("lic"), "licence_id": licence_id or uuid.uuid4().hex, "version": version,
            "kind": kind, "number": f"N-{uuid.uuid4().hex[:8]}", "holder": holder, "issuer": "鄂州市市场监督管理局",
            "issued_on": "2021-12-01", "valid_until": valid_until, "status": status, **extra}
