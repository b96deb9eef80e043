"""办件进度: asks for the number, and for the query password when the user is not its holder;
answers with the state, the last steps and the promised date."""

from __future__ import annotations

import unicodedata

from sqlalchemy.ext.asyncio import AsyncSession

from bot.flows import answer_with_secret
from bot.texts import fit
from bot.turn import Turn
from core.db import transaction
from personal_space import applications, people
from personal_space.models import Application


async def start(turn: Turn, number: str | None) -> str:
    if number is None:
        turn.conversation.enter("progress", "number")
        return "请发送办件编号（SX开头，如SX20261105000123），回复“取消”退出。"
    return await _look_up(turn, number)


async def number_given(turn: Turn) -> str:
    number = turn.entities.application_no
    if number is None:
        return "没有识别到办件编号，请发送以SX开头的16位编号，或回复“取消”退出。"
    return await _look_up(turn, number)


async def _look_up(turn: Turn, number: str) -> str:
    async with transaction(turn.app) as session:
        person = await turn.person(session)
        holders = await people.holders(session, person, turn.today) if person else []
        try:
            application = await applications.application_for(session, number, holders, None)
        except applications.ApplicationNotFound:
            turn.conversation.enter("progress", "password", number=number, tries=0)
            return "请输入该办件的查询密码（受理回执上的数字），回复“取消”退出。"
        turn.conversation.leave()
        return await _progress_text(session, application)


async def password_given(turn: Turn) -> str:
    async def answer(session: AsyncSession, number: str, password: str | None) -> str | None:
        try:
            application = await applications.application_for(session, number, [], password)
        except applications.ApplicationNotFound:
            return None
        await applications.note_password_read(session, application, await turn.person(session), "微信公众号", turn.now)
        return await _progress_text(session, application)

    password = unicodedata.normalize("NFKC", turn.text).strip()[:32]
    return await answer_with_secret(turn, applications.LOOKUPS, password if any(c.isdigit() for c in password) else None,
                                    answer,
                                    wrong="办件编号或查询密码不正确，请重新输入查询密码（还可尝试{left}次）。",
                                    gave_up="办件编号或查询密码不正确，请核对受理回执后重新查询。",
                                    ask="查询密码是受理回执上的一串数字，请直接输入；回复“取消”退出。")


async def _progress_text(session, application: Application) -> str:
    lines = [f"办件 {application.application_no}（{application.item_name}）",
             f"办理部门：{application.department}",
             f"当前状态：{applications.STATES[application.state]}"]
    note = "（按预测的节假日安排计算）" if application.due_provisional else ""
    if application.due_date:
        lines.append(f"承诺办结日：{application.due_date.month}月{application.due_date.day}日{note}")
    elif application.state == "suspended":
        lines.append(f"承诺办结日：{applications.paused_text(application)}{note}")
    if application.missing_materials:
        lines.append("需一次性补齐：" + "、".join(application.missing_materials))
    steps = (await applications.timeline(session, application.application_no))[-3:]
    if steps:
        lines.append("最近进展：")
        lines += [f"• {e.occurred_at:%m月%d日 %H:%M} {applications.STATES[e.state]}" + (f"：{e.note}" if e.note else "")
                  for e in steps]
    return fit("\n".join(lines))  # the materials to supply may be many


STEPS = {"number": number_given, "password": password_given}
SECRETS = {"password": "查询密码"}  # step → what its answer is: never kept in the transcript
