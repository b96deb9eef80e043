"""What the bot says: `respond(app, incoming, memory)` routes one message to a flow.

Order of precedence: "取消"/"退出" leaves any flow, else an open handoff; a user in a handoff
keeps talking to people, except to answer a flow they started from the menu since; events
(subscribe, menu clicks) enter flows; a user in a flow gives its next answer, unless the message
plainly asks for something else (转人工, another number, a complaint: `_leaving_for`); otherwise
the message is understood (intents) and starts a flow. A reading that is not confident enough
asks which of the likely readings was meant.
"""

from __future__ import annotations

import logging

from aiohttp import web

from bot import conversation as conversations
from bot.flows import complaint, documents, guide, handoff, progress, rating, tickets_status
from bot.messages import Answer, Incoming, Reply
from bot.texts import CANCELLED, HELP, NOT_UNDERSTOOD, UNSUPPORTED, WELCOME, choice, numbered
from bot.turn import Turn
from core import keys
from intents.entities import Entities
from intents.understanding import Reading, Target, Understanding

log = logging.getLogger("bot")

SURE = 0.75  # a guide reading below this, with other candidates, is asked about
SURE_TO_LEAVE = 0.95  # a message in a flow is read as a new request only this surely (`_leaving_for`)
FREE_TEXT = {("complaint", "content"), ("complaint", "location"), ("rating", "reason")}  # steps that take any text
HANDOFF_WORDS = {"转人工", "人工", "人工客服", "转人工客服", "人工服务", "找人工", "我要人工", "真人"}  # a call in a free-text step
CANCEL_WORDS = {"取消", "退出", "算了", "不办了", "结束", "返回"}
LEFT_FLOW_IN_HANDOFF = "已退出当前操作。人工客服仍在为您服务，您可以继续留言；结束人工服务请再回复“取消”。"
STEPS = {"guide": guide.STEPS, "progress": progress.STEPS, "complaint": complaint.STEPS,
         "ticket_status": tickets_status.STEPS, "rating": rating.STEPS}
SECRETS = {"progress": progress.SECRETS, "ticket_status": tickets_status.SECRETS}
# Menu CLICK keys (configured on the official account's menu) → what they start.
MENU = {"MENU_GUIDE": "guide", "MENU_PROGRESS": "progress_query", "MENU_COMPLAINT": "complaint_file",
        "MENU_TICKET": "complaint_status", "MENU_DOCUMENTS": "my_documents", "MENU_RATING": "rating",
        "MENU_HANDOFF": "handoff", "MENU_HELP": "help"}
INTENT_LABELS = {"guide": "办事指南", "progress_query": "查办件进度", "complaint_file": "12345投诉建议",
                 "complaint_status": "查工单进度", "my_documents": "查我的证照", "rating": "评价", "handoff": "转人工",
                 "help": "看看能办什么", "greet": "打个招呼"}


async def respond(app: web.Application, incoming: Incoming, memory: str | None) -> Answer:
    """The reply to one message, and the conversation as it goes on (`memory`: as it stood). A
    turn that fails keeps nothing: the conversation stays as it was."""
    turn = Turn(app, incoming, conversations.parse(memory))
    turn.conversation.said("user", _as_kept(turn), turn.now.isoformat())
    said = await _route(turn)
    reply = said if isinstance(said, Reply) else Reply(text=said or "")
    if reply.transfer:  # what was said is in the handoff now (opened, or relayed to it)
        turn.conversation.transcript = []
    else:
        turn.conversation.said("bot", reply.text, turn.now.isoformat())
    return Answer(reply, conversations.dump(turn.conversation))


def _as_kept(turn: Turn) -> str:
    """The user's message as the transcript keeps it (the state store now, a handoff's agents
    later): the answer to a step that asks for a secret is not kept at all (a cancel word is);
    `Conversation.said` masks ID and phone numbers. Messages relayed to an open handoff are the
    user's words to people and go there whole (`handoff.relay`)."""
    incoming, conversation = turn.incoming, turn.conversation
    secret = SECRETS.get(conversation.flow or "", {}).get(conversation.step or "")
    if secret is not None and turn.text not in CANCEL_WORDS:
        return f"［{secret}，已隐去］"
    return incoming.content or f"[{incoming.event or incoming.msg_type}]"


async def _route(turn: Turn) -> str | Reply:
    incoming = turn.incoming
    if incoming.msg_type == "event":
        return await _event(turn)
    if turn.text in CANCEL_WORDS:
        if turn.conversation.flow is not None and turn.conversation.handoff:  # a menu's flow during a handoff
            turn.conversation.leave()  # leaves that flow only: the people are still there, if still there
            return LEFT_FLOW_IN_HANDOFF if await handoff.still_open(turn) else CANCELLED
        ended = await handoff.end(turn)
        if ended:  # what was said during it (a menu's flow) is the ended handoff's, not the next one's
            turn.conversation.transcript = turn.conversation.transcript[-1:]
        turn.conversation.leave()
        return "已结束人工服务。" + CANCELLED if ended else CANCELLED
    flow = turn.conversation.flow
    # In a handoff the user's words go to people, but a flow they started from the menu since
    # takes its own answers first.
    relayed = await handoff.relay(turn) if flow is None else None
    if relayed is not None:
        return relayed
    if flow == "clarify":
        return await _clarified(turn)
    if flow is not None and (incoming.msg_type in ("text", "voice") and turn.text or (flow, turn.conversation.step) == ("complaint", "location")):
        leaving = _leaving_for(turn) if turn.text else None
        if leaving is not None:
            turn.conversation.leave()
            return await _start(turn, leaving.intent, leaving.target, **_numbers(leaving.entities))
        return await STEPS[flow][turn.conversation.step](turn)
    if incoming.msg_type not in ("text", "voice") or not turn.text:  # voice: WeChat's recognised text
        return UNSUPPORTED.get(incoming.msg_type, "收到。目前我只能读懂文字，请用文字告诉我您要办理的事情。")
    understood = _understood(turn)
    log.debug("understood", extra={"intent": understood.intent, "confidence": understood.confidence})
    if understood.intent == "out_of_scope" and understood.alternatives:
        return _clarify(turn, understood.alternatives, understood.entities)
    if understood.intent == "guide" and understood.confidence < SURE and understood.alternatives:
        main = Reading(understood.intent, understood.confidence, understood.target)
        return _clarify(turn, [main, *understood.alternatives], understood.entities)
    return await _start(turn, understood.intent, understood.target, **_numbers(understood.entities))


def _leaving_for(turn: Turn) -> Understanding | None:
    """A message in the middle of a flow that plainly starts something else, read so: a call for
    a person (any step), an application or ticket number where none of that kind is asked for, or
    a complaint said in full outside the complaint flow. Steps that take free text (a complaint's
    content or place, a rating's reason) give way only to the call for a person; None is the
    step's own answer."""
    flow, step = turn.conversation.flow, turn.conversation.step
    free_text = (flow, step) in FREE_TEXT
    if free_text and turn.text.rstrip("。.!！") not in HANDOFF_WORDS:  # "人工客服态度差" is content, not a call
        return None
    understood = _understood(turn)
    if free_text:  # only a plain call for a person comes this far
        return understood if understood.intent == "handoff" else None
    if understood.intent == "handoff" and understood.confidence >= SURE_TO_LEAVE:
        return understood
    numbers = understood.entities
    if understood.confidence >= SURE and (  # a number named is strong evidence of itself
            understood.intent == "progress_query" and numbers.application_no and (flow, step) != ("progress", "number")
            or understood.intent == "complaint_status" and numbers.ticket_no and (flow, step) != ("ticket_status", "number")):
        return understood
    if understood.intent == "complaint_file" and understood.confidence >= SURE_TO_LEAVE and flow != "complaint" \
            and len(turn.text) >= 6:
        return understood
    return None


def _understood(turn: Turn) -> Understanding:
    app = turn.app
    return app[keys.UNDERSTAND](turn.text, app[keys.INTENT_MODEL], app[keys.KNOWLEDGE_BASE].current, turn.today)


def _numbers(entities: Entities) -> dict[str, str | None]:
    """What a flow takes from the message itself: its application and ticket numbers, as plain
    values (kept in the conversation while a clarifying question waits for its answer)."""
    return {"application_no": entities.application_no, "ticket_no": entities.ticket_no}


async def _event(turn: Turn) -> str | Reply:
    event = (turn.incoming.event or "").lower()
    if event == "subscribe":
        turn.conversation.leave()
        return WELCOME
    if event == "click":
        intent = MENU.get(turn.incoming.event_key or "")
        if intent is None:
            return HELP
        turn.conversation.leave()
        return await _start(turn, intent)
    return ""  # unsubscribe, VIEW, scans…: nothing to say


async def _start(turn: Turn, intent: str, target: Target | None = None, *, application_no: str | None = None,
                 ticket_no: str | None = None) -> str | Reply:
    """Enter the flow of `intent`; a number the message gave goes straight to its lookup."""
    if intent == "guide":
        if target is None:
            turn.conversation.leave()
            return "请告诉我您要办什么事，例如“我要开饭店”“办理居住证”“新生儿落户”。"
        return await guide.start(turn, target)
    if intent == "progress_query":
        return await progress.start(turn, application_no)
    if intent == "complaint_file":  # from the menu the text is empty: the flow asks for the content
        return await complaint.start(turn)
    if intent == "complaint_status":
        return await tickets_status.start(turn, ticket_no)
    if intent == "my_documents":
        return await documents.start(turn)
    if intent == "rating":
        return await rating.start(turn, ticket_no)
    if intent == "handoff":
        return await handoff.start(turn)
    turn.conversation.leave()
    if intent == "greet":
        return "您好！有什么可以帮您？\n" + HELP
    if intent == "help":
        return HELP
    return NOT_UNDERSTOOD


def _label(reading: Reading) -> str:
    if reading.intent == "guide" and reading.target is not None:
        return f"办理“{reading.target.name}”"
    return INTENT_LABELS.get(reading.intent, reading.intent)


def _clarify(turn: Turn, readings: list[Reading], entities: Entities) -> str:
    """Ask which of `readings` was meant; the pick starts it with the message's text and numbers."""
    options = []
    for reading in readings[:4]:
        if reading.intent in INTENT_LABELS and _label(reading) not in [o["label"] for o in options]:
            options.append({"label": _label(reading), "intent": reading.intent,
                            "target": None if reading.target is None else reading.target.__dict__})
    if not options:
        turn.conversation.leave()
        return NOT_UNDERSTOOD
    turn.conversation.enter("clarify", "pick", options=options, text=turn.text, numbers=_numbers(entities))
    return f"您是想：\n{numbered([o['label'] for o in options])}\n请回复序号；都不是请换个说法。"


async def _clarified(turn: Turn) -> str | Reply:
    options = turn.conversation.data["options"]
    picked = choice(turn.text, [o["label"] for o in options])
    if picked is None:
        turn.conversation.leave()
        return await _route(turn)  # not a pick: read it as a new message
    option, asked = options[picked], turn.conversation.data
    target = Target(**option["target"]) if option["target"] else None
    turn.conversation.leave()
    original = Turn(turn.app, Incoming(**{**turn.incoming.__dict__, "content": asked["text"]}), turn.conversation)
    # A question asked before numbers were kept has none: the lookup then asks for its number.
    return await _start(original, option["intent"], target, **asked.get("numbers", {}))
