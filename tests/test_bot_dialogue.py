"""Conversations with the bot, message by message, as a WeChat user holds them."""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest
from sqlalchemy import func, select

from bot.messages import Incoming
from core import keys
from core.clock import SHANGHAI
from core.db import transaction
from hotline.models import Handoff, Ticket
from tests.personal_space_helpers import ALICE, SECRETS, event_id, signed
from tests.test_personal_space import bind

_ids = itertools.count(1000)


@pytest.fixture
async def bot(aiohttp_client, make_settings, clock, fake_wechat):
    from server import create_app

    settings = make_settings(integration_clients=SECRETS, **fake_wechat.settings())
    client = await aiohttp_client(create_app(settings, clock=clock))
    return client


class User:
    def __init__(self, client, openid: str):
        self.client, self.openid = client, openid

    async def say(self, text: str, *, msg_type: str = "text", event: str | None = None, key: str | None = None) -> str:
        app = self.client.server.app
        incoming = Incoming(openid=self.openid, account="gh_test", msg_type=msg_type,
                            create_time=int(app[keys.CLOCK].now().timestamp()), content=text, event=event,
                            event_key=key, msg_id=None if msg_type == "event" else str(next(_ids)))
        from bot.dialogue import respond
        reply = await respond(app, incoming)
        return "[transfer]" if reply.transfer else reply.text


@pytest.fixture
def user(bot):
    return User(bot, "openid-wx-user")


@pytest.fixture
async def alice(bot, clock):
    async def post(path, body, **kwargs):
        return await signed(bot, path, body, now=clock.now().timestamp(), **kwargs)
    await bind(post, "openid-alice", ALICE)
    return User(bot, "openid-alice")


async def _count(bot, model) -> int:
    async with transaction(bot.server.app) as session:
        return await session.scalar(select(func.count()).select_from(model))


async def test_welcome_and_help(user):
    assert "欢迎使用" in await user.say("", msg_type="event", event="subscribe")
    assert "办事指南" in await user.say("你能做什么")


async def test_guidance_asks_the_situation_questions_then_gives_the_checklist(user):
    first = await user.say("我要开饭店需要什么材料")
    assert "【" in first and "牵头部门" in first and "请问" in first
    reply = first
    for _ in range(10):
        if "材料清单" in reply:
            break
        reply = await user.say("1")
    assert "材料清单" in reply and len(reply.encode()) <= 2048
    assert "实名认证后" in reply


async def test_complaint_filing_gives_a_ticket_with_its_due_date(alice, bot, clock):
    clock.set(datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI))  # Monday
    assert "地点" in await alice.say("我要投诉，小区楼下的烧烤店每天营业到凌晨两点，油烟噪音扰民")
    assert "138****" in await alice.say("滨江路88号")
    assert "匿名" in await alice.say("1")
    confirm = await alice.say("1")
    assert "请确认" in confirm and "滨江路88号" in confirm
    done = await alice.say("1")
    assert "GD20261123000001" in done
    assert "按规定将在5个工作日内，即11月30日前答复" in done
    async with transaction(bot.server.app) as session:
        ticket = await session.get(Ticket, "GD20261123000001")
    assert ticket.citizen_id == ALICE["id_number"] and ticket.location == "滨江路88号" and ticket.channel == "wechat"


async def test_an_unbound_user_files_with_a_phone_and_checks_status_by_phone(user, bot):
    assert "请描述" in await user.say("我要投诉")
    assert "地点" in await user.say("公交站台的顶棚破了好几个月，下雨天没法等车")
    assert "手机号" in await user.say("跳过")
    assert "格式" in await user.say("12345")
    assert "匿名" in await user.say("139 1234 5678")
    await user.say("2")
    done = await user.say("1")
    number = done.split("工单编号 ")[1][:16]
    status = await user.say(f"{number}处理得怎么样了")
    assert "手机号" in status
    assert "当前状态：已登记" in await user.say("13912345678")


async def test_cancel_leaves_any_flow(user):
    await user.say("我要投诉")
    assert "已退出" in await user.say("取消")
    assert "请问" not in await user.say("你好")


async def test_handoff_opens_a_queue_entry_with_the_transcript(user, bot):
    await user.say("你好")
    assert await user.say("转人工") == "[transfer]"
    assert await _count(bot, Handoff) == 1
    async with transaction(bot.server.app) as session:
        handoff = await session.scalar(select(Handoff))
    assert [line["text"] for line in handoff.transcript][:2] == ["你好", handoff.transcript[1]["text"]]
    assert await user.say("我的社保卡丢了怎么办") == "[transfer]"  # relayed while the handoff is open
    assert "已结束人工服务" in await user.say("退出")


async def test_progress_lookup_with_the_query_password(user, bot, clock):
    body = {"event_id": event_id("app"), "application_no": "SX20261105000123", "query_password": "839201",
            "item_code": "KE-FOOD-01", "item_name": "食品经营许可（新办）", "department": "市市场监管局",
            "applicant": {"type": "person", "id": ALICE["id_number"], "name": ALICE["name"]},
            "state": "accepted", "occurred_at": "2026-11-05T10:12:00+08:00", "promised_working_days": 10}
    assert (await signed(bot, "/integration/v1/application-events", body, now=clock.now().timestamp())).status == 200
    assert "查询密码" in await user.say("查询办件SX20261105000123的进度")
    assert "不正确" in await user.say("000000")
    answer = await user.say("839201")
    assert "已受理" in answer and "承诺办结日：11月19日" in answer


async def test_unknown_message_types_get_a_helpful_answer(user):
    assert "文字" in await user.say("", msg_type="image")


async def test_my_documents_needs_a_binding(user, alice):
    assert "实名" in await user.say("我的证照")


async def test_a_bound_user_is_told_what_the_government_already_holds(alice, bot, clock):
    from tests.personal_space_helpers import licence

    pushed = await signed(bot, "/integration/v1/licences", licence(ALICE, "居民身份证", valid_until="2036-05-01"),
                          now=clock.now().timestamp())
    assert pushed.status == 200
    reply = await alice.say("我要开饭店")
    for _ in range(10):
        if "材料清单" in reply:
            break
        reply = await alice.say("1")
    assert "居民身份证（已有，免提交）" in reply and "政府已掌握" in reply
