"""12345 诉求登记: content (from the first message when it says enough), location (text or a
WeChat location), contact (from the binding, or a phone asked for), anonymity, confirmation,
then the ticket and its deadline as a date."""

from __future__ import annotations

import re

from bot.texts import agrees, choice, numbered
from bot.turn import Turn
from core.db import transaction
from core.identity import mask_phone
from hotline import tickets
from hotline.service import context
from hotline.tickets import Actor, NewTicket

# Words that only say "I want to complain": a message of just these has no content yet.
_TRIGGER = re.compile(r"我要|我想|要|想|投诉|举报|反映|建议|求助|咨询|12345|一下|问题|情况|热线|帮我|请|你好|您好|[，,。.!！？?\s]")
# The first named wins: 举报 and 投诉 said outright before a word in passing ("请帮忙处理").
_TYPES = (("举报", "举报"), ("投诉", "投诉"), ("建议", "建议"), ("求助", "求助"), ("帮忙", "求助"), ("咨询", "咨询"))
ANONYMITY = ["不匿名", "对承办单位匿名（热线仍可见，以便回访）"]
SKIP = {"跳过", "无", "没有", "不知道", "略"}


def type_of(text: str) -> str:
    """The kind of 诉求 a message names (`_TYPES`), 投诉 when it names none."""
    return next((kind for word, kind in _TYPES if word in text), "投诉")


async def start(turn: Turn) -> str:
    text = turn.text
    turn.conversation.enter("complaint", "content", type=type_of(text))
    if len(_TRIGGER.sub("", text)) >= 6:  # says what happened, not only "我要投诉"
        return _take_content(turn, text)
    return "请描述您要反映的问题：发生了什么、持续多久、希望怎样解决。（回复“取消”退出）"


def _take_content(turn: Turn, text: str) -> str:
    turn.conversation.data["content"] = text[:4000]
    turn.conversation.step = "location"
    return "请告诉我事发地点（街道、小区、门牌号），也可以直接发送位置；没有具体地点请回复“跳过”。"


async def content_given(turn: Turn) -> str:
    if len(turn.text) < 4:
        return "内容太短了，请再具体描述一下您要反映的问题。"
    return _take_content(turn, turn.text)


async def location_given(turn: Turn) -> str:
    incoming = turn.incoming
    if incoming.msg_type == "location":
        turn.conversation.data["location"] = incoming.content or "（微信位置）"
    elif turn.text and turn.text not in SKIP:
        turn.conversation.data["location"] = turn.text[:200]
    person = await turn.person()
    if person is not None and person.phone:
        turn.conversation.step = "contact"
        return (f"承办单位将通过您实名登记的手机号 {mask_phone(person.phone)} 联系您。\n"
                "确认请回复1；如需换号码，请直接发送新的手机号。")
    turn.conversation.step = "phone"
    return "请留下您的手机号码，以便承办单位联系和答复您。"


async def contact_given(turn: Turn) -> str:
    if agrees(turn.text):
        return _ask_anonymity(turn)
    return await phone_given(turn)


async def phone_given(turn: Turn) -> str:
    phone = turn.entities.phone
    if phone is None:
        return "手机号格式不对，请发送11位手机号码。"
    turn.conversation.data["phone"] = phone
    return _ask_anonymity(turn)


def _ask_anonymity(turn: Turn) -> str:
    turn.conversation.step = "anonymity"
    return f"是否需要对承办单位匿名？\n{numbered(ANONYMITY)}"


async def anonymity_given(turn: Turn) -> str:
    picked = choice(turn.text, ANONYMITY)
    if picked is None:
        return f"请回复序号选择：\n{numbered(ANONYMITY)}"
    data = turn.conversation.data
    data["anonymous"] = picked == 1
    turn.conversation.step = "confirm"
    person = await turn.person()
    phone = data.get("phone") or (person.phone if person else None)
    lines = ["请确认您的诉求：", f"类型：{data['type']}", f"内容：{data['content'][:200]}",
             f"地点：{data.get('location') or '未提供'}", f"联系电话：{mask_phone(phone) if phone else '未提供'}",
             f"对承办单位匿名：{'是' if data['anonymous'] else '否'}", "确认提交请回复1，放弃请回复“取消”。"]
    return "\n".join(lines)


async def confirmed(turn: Turn) -> str:
    if not (agrees(turn.text) or choice(turn.text, ["确认提交"]) == 0):
        return "确认提交请回复1，放弃请回复“取消”。"
    data, ctx = turn.conversation.data, context(turn.app)
    async with transaction(turn.app) as session:
        person = await turn.person(session)
        phone = data.get("phone") or (person.phone if person else None)
        new = NewTicket(type=data["type"], content=data["content"], channel="wechat", location=data.get("location"),
                        anonymous=data["anonymous"], contact_phone=phone, contact_name=person.name if person else None,
                        citizen_id=person.id_number if person else None)
        actor = Actor("citizen", person.id_number, person.name) if person else Actor("citizen", turn.openid, "微信用户")
        ticket = await tickets.register(session, new, actor, ctx)
    turn.conversation.leave()
    return f"已为您登记，工单编号 {ticket.number}。\n{tickets.promise(ticket, ctx.today)}。\n可随时发送工单编号查询进度。"


STEPS = {"content": content_given, "location": location_given, "contact": contact_given, "phone": phone_given,
         "anonymity": anonymity_given, "confirm": confirmed}
