"""我的证照: the bound user's licences with their validity; others are told how to bind."""

from __future__ import annotations

from bot.texts import MINIAPP, NEED_BINDING, fit
from bot.turn import Turn
from core.db import transaction
from core.identity import mask_name
from personal_space import documents


async def start(turn: Turn) -> str:
    turn.conversation.leave()
    async with transaction(turn.app) as session:
        person = await turn.person(session)
        if person is None:
            return NEED_BINDING
        found = await documents.documents_of(session, "person", person.id_number)
        lines = [f"{mask_name(person.name)}，您的证照（共{len(found)}个）："]
        for document in found:
            until = "长期有效" if document.valid_until is None else f"有效期至{document.valid_until:%Y年%m月%d日}"
            lines.append(f"• {document.kind}：{documents.shown_status(document, turn.today)}，{until}")
    if not found:
        lines = ["暂未查到您名下的电子证照。"]
    lines.append("亮证、查看详情和到期提醒请在小程序“我的证照”中使用。" if found else MINIAPP)
    return fit("\n".join(lines))
