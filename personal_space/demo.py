"""Demo data for the embedded mode (DEMO_DATA): a citizen, an enterprise and their licences.

Loaded at startup, idempotently: the licences go through the same ingest as the e-licence
library's pushes, with version 1, so a restart changes nothing. Logging in as the demo
citizen needs DEMO_LOGIN as well (POST /api/v1/auth/demo-login).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import date, timedelta

from aiohttp import web

from core import keys
from core.db import transaction
from personal_space import documents, people

log = logging.getLogger("personal_space")

DEMO_OPENID = "demo-openid-citizen"
CITIZEN = {"id_number": "11010519491231002X", "name": "张三", "phone": "13800138000"}
ENTERPRISE = {"type": "enterprise", "id": "91350200776049653A", "name": "某某餐饮有限公司"}


def _licences(today: date) -> list[dict]:
    person = {"type": "person", "id": CITIZEN["id_number"], "name": CITIZEN["name"]}
    common = dict(version=1, issued_on=None, status="valid", verified=True, replaces=None, extra={},
                  legal_representative=None)
    return [
        {**common, "licence_id": "demo-id-card", "kind": "居民身份证", "number": CITIZEN["id_number"],
         "holder": person, "issuer": "北京市公安局西城分局", "valid_until": date(2036, 5, 1)},
        {**common, "licence_id": "demo-driving", "kind": "机动车驾驶证", "number": CITIZEN["id_number"],
         "holder": person, "issuer": "北京市公安局公安交通管理局", "valid_until": today + timedelta(days=25)},
        {**common, "licence_id": "demo-business", "kind": "营业执照", "number": ENTERPRISE["id"],
         "holder": ENTERPRISE, "issuer": "鄂州市市场监督管理局", "valid_until": None,
         "legal_representative": {"id_number": CITIZEN["id_number"], "name": CITIZEN["name"]}},
        {**common, "licence_id": "demo-food", "kind": "食品经营许可证", "number": "JY14201010000123",
         "holder": ENTERPRISE, "issuer": "鄂州市市场监督管理局", "valid_until": today + timedelta(days=80)},
    ]


async def load_demo_data(app: web.Application) -> None:
    now = app[keys.CLOCK].now()
    async with transaction(app) as session:
        await people.bind(session, DEMO_OPENID, None, CITIZEN["id_number"], CITIZEN["name"], CITIZEN["phone"], now)
        for licence in _licences(now.date()):
            await documents.ingest_licence(session, "demo", licence, now)


async def demo_data_context(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: load the demo data when DEMO_DATA is on."""
    if app[keys.SETTINGS].demo_data:
        await load_demo_data(app)
        log.info("demo data loaded", extra={"openid": DEMO_OPENID})
    yield
