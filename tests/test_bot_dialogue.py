"""Conversations with the bot, message by message, as a WeChat user holds them."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from bot.conversation import Conversation
from bot.flows.complaint import ANONYMITY, type_of
from bot.messages import MEMORY_KEY
from bot.texts import NEED_BINDING, agrees, choice
from core.ratings import LEVELS
from core import keys
from core.clock import SHANGHAI
from core.db import transaction
from hotline.models import Handoff, Ticket, TicketRating
from personal_space.models import AccessRecord
from tests.bot_helpers import User, bot, store_conversation, stored_conversation  # noqa: F401 - bot is a fixture (plain and safe mode)
from tests.personal_space_helpers import ALICE, BOB, bind, event_id, licence, login, signed, signer
from tests.row_counts import count_rows, statements


@pytest.fixture
def user(bot):
    return User(bot, "openid-wx-user")


@pytest.fixture
async def alice(bot, clock):
    await bind(signer(bot, clock), "openid-alice", ALICE)
    return User(bot, "openid-alice")


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
    assert "请确认" in confirm and "滨江路88号" in confirm and "联系电话：138****8000" in confirm
    done = await alice.say("1")
    assert "GD20261123000001" in done
    assert "按规定将在5个工作日内，即11月30日前答复" in done
    async with transaction(bot.server.app) as session:
        ticket = await session.get(Ticket, "GD20261123000001")
    assert ticket.citizen_id == ALICE["id_number"] and ticket.location == "滨江路88号" and ticket.channel == "wechat"


async def test_a_place_picked_on_the_map_and_everyday_answers_are_understood(alice, bot, clock):
    clock.set(datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI))
    await alice.say("我要投诉，小区楼下的烧烤店每天营业到凌晨两点，油烟噪音扰民")
    place = {"Location_X": "30.391", "Location_Y": "114.894", "Scale": "15", "Label": "湖北省鄂州市滨江路88号"}
    assert "138****" in await alice.say("", msg_type="location", fields=place)
    assert "匿名" in await alice.say("好的")  # the phone on record is fine
    assert "请回复序号" in await alice.say("匿名")  # in both options: which one is asked, not guessed
    assert "对承办单位匿名：是" in await alice.say("２")
    assert "GD20261123000001" in await alice.say("确认")
    async with transaction(bot.server.app) as session:
        ticket = await session.get(Ticket, "GD20261123000001")
    assert (ticket.location, ticket.anonymous) == ("湖北省鄂州市滨江路88号（30.391,114.894）", True)


def test_a_reply_picks_the_option_it_names_not_a_longer_one_containing_it():
    levels = list(LEVELS)
    assert [choice(answer, levels) for answer in ("满意", "非常满意", "不满意", "基本", "５", "6", "很好")] == [
        1, 0, 3, 2, 4, None, None]
    assert choice("匿名", ANONYMITY) is None and choice("不匿名", ANONYMITY) == 0
    assert choice(ANONYMITY[1], ANONYMITY) == 1 and choice("①", ANONYMITY) == 0  # labels folded alike
    assert all(agrees(yes) for yes in ("1", "１", "好的", "可以的", "确认。", "OK"))
    assert not any(agrees(no) for no in ("不", "13912345678", "换号", ""))


def test_the_kind_of_request_is_the_one_named_outright():
    assert [type_of(text) for text in ("我要投诉小区噪音扰民，请帮忙处理一下", "楼道灯坏了请帮忙修一下", "我要举报非法采砂",
                                        "建议在公交站增设雨棚", "路面塌陷了", "我要举报非法采砂，投诉了好几次没用")] == [
        "投诉", "求助", "举报", "建议", "投诉", "举报"]


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
    assert (await user.say("你好")).startswith("您好！有什么可以帮您")  # read anew, not as the flow's next answer


async def test_a_plain_new_request_in_the_middle_of_a_flow_leaves_it(user):
    assert "请问" in await user.say("我要开饭店需要什么材料")
    assert "查询密码" in await user.say("查询办件SX20261105000999")  # not "请回复序号"
    assert "手机号" in await user.say("GD20261122000001")  # a ticket number at the password step
    assert "地点" in await user.say("我要投诉小区门口的烧烤店每天营业到凌晨")
    assert "手机号" in await user.say("市民之家")  # a place, though it reads a little like a complaint
    assert await user.say("转人工") == "[transfer]"
    await user.say("退出")
    assert "请描述" in await user.say("我要投诉")
    assert "地点" in await user.say("12345人工客服态度恶劣，挂我电话")  # content that names 人工, not a call for one
    assert "办件编号" in await user.say("", msg_type="event", event="CLICK", key="MENU_PROGRESS")
    assert "手机号" in await user.say("GD20261118000042办得怎么样了")  # the welcome's own example leaves the flow


async def test_handoff_opens_a_queue_entry_with_the_transcript(user, bot):
    await user.say("你好")
    assert await user.say("转人工") == "[transfer]"
    assert await count_rows(bot.server.app, Handoff) == 1
    async with transaction(bot.server.app) as session:
        handoff = await session.scalar(select(Handoff))
    assert [line["from"] for line in handoff.transcript] == ["user", "bot", "user", "bot"]
    assert [handoff.transcript[0]["text"], handoff.transcript[2]["text"]] == ["你好", "转人工"]
    assert "人工客服" in handoff.transcript[3]["text"]
    assert await user.say("我的社保卡丢了怎么办") == "[transfer]"  # relayed while the handoff is open
    assert "办件编号" in await user.say("", msg_type="event", event="CLICK", key="MENU_PROGRESS")
    assert "查询密码" in await user.say("SX20261105000999")  # the menu's flow takes its answer, not the agents
    assert "人工客服仍在为您服务" in await user.say("取消")  # leaves the menu's flow, not the people
    assert await user.say("好的，我再等等") == "[transfer]"
    assert "已结束人工服务" in await user.say("退出")
    await user.say("你好")
    assert await user.say("转人工") == "[transfer]"
    async with transaction(bot.server.app) as session:
        second = (await session.scalars(select(Handoff).order_by(Handoff.id.desc()))).first()
    # the second handoff carries what was said since the first ended, nothing of the first
    assert [(line["from"], line["text"][:4]) for line in second.transcript] == [
        ("user", "退出"), ("bot", "已结束人"), ("user", "你好"), ("bot", "您好！有"), ("user", "转人工"), ("bot", "正在为您")]


async def test_cancel_in_a_menu_flow_after_the_agents_closed_the_handoff_says_so_plainly(user, bot):
    from bot.texts import CANCELLED
    from hotline import handoffs

    assert await user.say("转人工") == "[transfer]"
    assert "办件编号" in await user.say("", msg_type="event", event="CLICK", key="MENU_PROGRESS")
    app = bot.server.app
    async with transaction(app) as session:  # the agents close it meanwhile
        await handoffs.close(session, await session.scalar(select(Handoff)), app[keys.CLOCK].now())
    assert await user.say("取消") == CANCELLED  # not "人工客服仍在为您服务"
    assert await user.say("你好") != "[transfer]"


async def test_progress_lookup_with_the_query_password(user, bot, clock):
    body = {"event_id": event_id("app"), "application_no": "SX20261105000123", "query_password": "839201",
            "item_code": "KE-FOOD-01", "item_name": "食品经营许可（新办）", "department": "市市场监管局",
            "applicant": {"type": "person", "id": ALICE["id_number"], "name": ALICE["name"]},
            "state": "accepted", "occurred_at": "2026-11-05T10:12:00+08:00", "promised_working_days": 10}
    assert (await signed(bot, "/integration/v1/application-events", body, now=clock.now().timestamp())).status == 200
    assert "查询密码" in await user.say("查询办件SX20261105000123的进度")
    assert "不正确" in await user.say("000000")
    for unsure in ("不知道", "密码在哪看"):  # no password at all: asked again, no try spent
        assert await user.say(unsure) == "查询密码是受理回执上的一串数字，请直接输入；回复“取消”退出。"
    assert "还可尝试1次" in await user.say("111111")  # the second wrong one, not the fourth
    answer = await user.say("８３９２０１")  # typed on a full-width keyboard
    assert "已受理" in answer and "承诺办结日：11月19日" in answer
    async with transaction(bot.server.app) as session:
        read = await session.scalar(select(AccessRecord).where(AccessRecord.subject_id == ALICE["id_number"]))
    assert (read.reader_type, read.reader_id, read.reader_name, read.resource) == (
        "query_password", "", "未实名认证的用户", "办件 SX20261105000123（微信公众号，凭查询密码）")


async def test_secrets_and_personal_numbers_never_reach_the_transcript(user, bot, clock):
    """What the agents of a handoff read, and what the state store holds meanwhile: the query
    password is not kept at all, a ticket's phone (its secret) neither, ID and phone numbers masked."""
    await test_progress_lookup_with_the_query_password(user, bot, clock)
    await user.say("GD20261118000042处理得怎么样了")
    await user.say("13912345678")
    await user.say("取消")
    await user.say("我的身份证号420106198001010016，电话139 1234 5678，备用１３７１２３４５６７８，想咨询社保")
    kept = str((await stored_conversation(bot.server.app, user.openid)).transcript)
    assert await user.say("转人工") == "[transfer]"
    async with transaction(bot.server.app) as session:
        said = [line["text"] for line in (await session.scalar(select(Handoff))).transcript if line["from"] == "user"]
    assert said[-7:] == ["［查询密码，已隐去］", "［查询密码，已隐去］", "GD20261118000042处理得怎么样了", "［登记手机号，已隐去］",
                         "取消", "我的身份证号420106********0016，电话139****5678，备用１３７****５６７８，想咨询社保", "转人工"]
    for secret in ("000000", "839201", "13912345678", "1980010100", "1234 5678", "１２３４５６７８"):
        assert secret not in kept and secret not in str(said)


def test_the_transcript_masks_the_bots_lines_too():
    """A confirmation repeats what the user typed; the bot's line must not keep it whole."""
    kept = Conversation()
    kept.said("bot", "请确认：内容：占道经营，回电13912345678，身份证420106198001010016", "2026-11-23T10:00:00+08:00")
    assert kept.transcript[0]["text"] == "请确认：内容：占道经营，回电139****5678，身份证420106********0016"


async def test_unknown_message_types_get_a_helpful_answer(user):
    assert "文字" in await user.say("", msg_type="image")


async def test_my_documents_needs_a_binding(user, alice):
    assert "实名" in await user.say("我的证照")


async def test_a_bound_user_is_told_what_the_government_already_holds(alice, bot, clock):
    pushed = await signed(bot, "/integration/v1/licences", licence(ALICE, "居民身份证", valid_until="2036-05-01"),
                          now=clock.now().timestamp())
    assert pushed.status == 200
    reply = await alice.say("我要开饭店")
    for _ in range(10):
        if "材料清单" in reply:
            break
        reply = await alice.say("1")
    assert "居民身份证（已有，免提交）" in reply and "政府已掌握" in reply


async def _answered_ticket(bot, user: User, reply: str = "已通知路灯管理所，三日内修复。") -> str:
    """A complaint filed through the bot and answered by the hotline."""
    from hotline import tickets
    from hotline.service import context

    await user.say("我要投诉，小区门口的路灯坏了一个多月没人修")
    for answer in ("滨江路88号", "1", "1"):
        await user.say(answer)
    done = await user.say("1")
    number = done.split("工单编号 ")[1][:16]
    app = bot.server.app
    async with transaction(app) as session:
        ticket = await tickets.get_ticket(session, number, tickets.Actor("agent", "agent01", "王芳"), for_update=True)
        await tickets.perform(session, ticket, tickets.Actor("agent", "agent01", "王芳"), "answer",
                              {"reply": reply}, context(app))
    return number


async def test_a_long_answer_fits_one_reply_and_only_its_bound_filer_is_offered_rating(alice, user, bot):
    number = await _answered_ticket(bot, alice, reply="经现场核查，" + "已协调路灯管理所逐段排查线路并更换灯具。" * 60)
    own = await alice.say(f"{number}办得怎么样了")
    assert len(own.encode()) <= 2048 and "……" in own and "小程序" in own and "评价" in own
    assert await alice.say("我的工单办得怎么样了") == own  # no number: her latest
    assert "手机号" in await user.say(f"{number}办得怎么样了")
    by_phone = await user.say("13800138000")
    assert "当前状态：已答复" in by_phone and len(by_phone.encode()) <= 2048
    assert "评价" not in by_phone  # rating needs the binding: not offered to one who gave the phone
    async with transaction(bot.server.app) as session:
        read = await session.scalar(select(AccessRecord).where(AccessRecord.subject_id == ALICE["id_number"],
                                                               AccessRecord.reader_type == "contact_phone"))
    assert (read.reader_name, read.resource) == ("未实名认证的用户", f"12345工单 {number}（微信公众号，凭登记手机号）")


async def test_rating_an_answer_with_a_reason_for_a_bad_level(alice, bot):
    number = await _answered_ticket(bot, alice)
    status = await alice.say(f"{number}办得怎么样了")
    assert "已答复" in status and "三日内修复" in status
    ask = await alice.say("我要评价")
    assert number in ask and "非常不满意" in ask
    assert "原因" in await alice.say("不满意")
    assert "重新办理" in await alice.say("路灯到现在还是不亮")
    async with transaction(bot.server.app) as session:
        rating = await session.scalar(select(TicketRating).where(TicketRating.ticket_no == number))
    assert rating.level == "不满意" and rating.needs_judgement and rating.comment == "路灯到现在还是不亮"
    assert "没有可评价" in await alice.say("评价")  # rated once


async def test_unbinding_in_the_mini_program_mid_rating_is_seen_at_once_and_ends_the_flow(alice, bot, fake_wechat):
    await _answered_ticket(bot, alice)
    assert await alice.say("我的证照") != NEED_BINDING  # the binding is read, and kept for a minute
    assert "打分" in await alice.say("评价")
    headers = await login(bot, fake_wechat, "openid-alice")
    unbound = await bot.delete("/api/v1/me/binding", headers={"Authorization": headers["Authorization"]})
    assert unbound.status == 200
    assert await alice.say("1") == NEED_BINDING  # the same process: not a minute later
    assert await count_rows(bot.server.app, TicketRating) == 0
    assert await alice.say("我的证照") == NEED_BINDING


@pytest.mark.parametrize("opening", ["我要开饭店", "查询办件进度", "我要投诉", "查询工单进度"])
async def test_cancel_in_the_middle_of_a_flow(user, opening):
    started = await user.say(opening)
    assert "取消" in started or "请问" in started
    assert "已退出" in await user.say("取消")
    assert (await user.say("你好")).startswith("您好！有什么可以帮您")  # read anew, not as the flow's next answer


async def test_cancel_in_the_middle_of_rating(alice, bot):
    await _answered_ticket(bot, alice)
    assert "打分" in await alice.say("评价")
    assert "已退出" in await alice.say("退出")
    assert "感谢" not in await alice.say("1")  # no longer a score
    assert await count_rows(bot.server.app, TicketRating) == 0


async def test_menu_clicks_enter_the_same_flows(user):
    assert "请描述" in await user.say("", msg_type="event", event="CLICK", key="MENU_COMPLAINT")
    assert "办件编号" in await user.say("", msg_type="event", event="CLICK", key="MENU_PROGRESS")
    assert "欢迎使用" in await user.say("", msg_type="event", event="CLICK", key="MENU_HELP")


async def test_an_unsure_reading_asks_which_was_meant(user):
    asked = await user.say("办证")
    assert "您是想" in asked and "2." in asked
    picked = await user.say("2")
    assert "您是想" not in picked and "【" in picked  # the second reading's guide
    lookup = await user.say("查一下")
    assert "查工单进度" in lookup and "查办件进度" in lookup
    assert "办件编号" in await user.say("查办件进度")


async def test_a_number_says_which_lookup_is_meant(user):
    # read as /api/v1/nlu/parse reads them (test_nlu_api): the number settles an unsure reading or small talk
    assert await user.say("GD20261118000042办得怎么样了") == "为保护您的信息，请发送登记该工单时留下的手机号码。"
    assert "已退出" in await user.say("取消")
    assert await user.say("你好，SX20261105000123") == "请输入该办件的查询密码（受理回执上的数字），回复“取消”退出。"


@pytest.mark.parametrize("pick, lookup", [
    ("1", "请输入该办件的查询密码（受理回执上的数字），回复“取消”退出。"),
    ("2", "为保护您的信息，请发送登记该工单时留下的手机号码。"),
])
async def test_the_picked_lookup_takes_the_number_the_unclear_message_gave(user, pick, lookup):
    asked = await user.say("SX20261105000123 GD20261118000042")
    assert asked == "您是想：\n1. 查办件进度\n2. 查工单进度\n请回复序号；都不是请换个说法。"
    assert await user.say(pick) == lookup  # not "please send the number": the message gave it


async def test_the_binding_is_read_at_most_once_a_minute_per_user(alice, user, bot, clock):
    with statements(bot.server.app, "wechat_accounts") as reads:  # the binding's
        await alice.say("我要投诉，小区门口的路灯坏了一个多月没人修")
        for answer in ("滨江路88号", "1", "1", "1"):  # the contact step and the filing both need the binding
            await alice.say(answer)
        assert len(reads) == 1
        assert await user.say("我的证照") == NEED_BINDING
        assert len(reads) == 2

    await bind(signer(bot, clock), user.openid, BOB)
    assert await user.say("我的证照") == NEED_BINDING  # the binding read a moment ago still counts
    clock.advance(timedelta(seconds=60))
    assert await user.say("我的证照") == "暂未查到您名下的电子证照。\n完整内容请在“政务掌上办”小程序查看。"


async def test_failed_lookups_in_the_mini_program_count_in_the_chat_too(user, bot):
    for attempt in range(10):
        response = await bot.get("/api/v1/applications/SX20261105000999", params={"password": f"{attempt:06d}"})
        assert response.status == 404
    assert (await bot.get("/api/v1/applications/SX20261105000999", params={"password": "1"})).status == 429
    assert "查询密码" in await user.say("查询办件SX20261105000999")
    assert "次数过多" in await user.say("123456")


async def test_the_state_store_never_holds_a_bound_users_id_number_or_phone(alice, bot):
    assert "证照" in await alice.say("我的证照")
    assert "地点" in await alice.say("我要投诉，小区楼下的烧烤店每天营业到凌晨两点，油烟噪音扰民")
    assert "138****" in await alice.say("滨江路88号")  # the binding was read: its phone is offered
    stored = await bot.server.app[keys.STATE].get(MEMORY_KEY.format(openid=alice.openid))
    assert "complaint" in stored and ALICE["id_number"] not in stored and ALICE["phone"] not in stored


async def test_a_conversation_stored_by_an_earlier_release_still_loads(user, bot):
    """Before the binding moved out of the state store, conversations carried it."""
    await bot.server.app[keys.STATE].set_json(MEMORY_KEY.format(openid=user.openid), {
        "flow": "complaint", "step": "content", "data": {"type": "投诉"}, "transcript": [], "handoff": False,
        "person": {}, "person_read_at": 0.0}, ttl=60)
    assert "地点" in await user.say("公交站台的顶棚破了好几个月，下雨天没法等车")


async def test_a_guide_updated_while_its_questions_were_being_answered_starts_afresh(user, bot):
    reply = await user.say("我要开饭店")
    assert "请回复序号" in reply or "？" in reply
    await user.say("1")  # the first answer: a new licence
    stored = await stored_conversation(bot.server.app, user.openid)
    assert stored.flow == "guide"
    stored.data["answers"] = {"licence": "has_scope", "entity": "company"}  # as an older guide's answers would be
    await store_conversation(bot.server.app, user.openid, stored)
    assert await user.say("1") == "这项办事指南刚刚更新，请重新告诉我您要办的事，我按新的指南为您定制清单。"
    stored.data["question"] = "no-longer-asked"
    stored.data["answers"] = {}
    await store_conversation(bot.server.app, user.openid, stored)
    assert "重新告诉我" in await user.say("1")
    assert (await stored_conversation(bot.server.app, user.openid)).flow is None
