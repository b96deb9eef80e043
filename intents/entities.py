"""Entities in a message: application and ticket numbers, mobile phone, ID number, dates.

An ID number is returned masked only, and only when its checksum holds; a phone number is
returned in full because the caller (the citizen themself) typed it to be used. Each entity's
span is replaced by a placeholder (<sx>, <gd>, <phone>, <id>, <date>) in the text the classifier
sees, so "SX20261105000123" weighs as "an application number", not as fourteen digits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from core.identity import PHONE_PATTERN, InvalidIdentifier, mask_id_number, validate_id_number
from intents.dates import DateMention, find_dates

APPLICATION_NO = re.compile(r"(?<![0-9a-z])sx\s?(\d{14})(?![0-9a-z])", re.IGNORECASE)  # 办件编号
TICKET_NO = re.compile(r"(?<![0-9a-z])gd\s?(\d{14})(?![0-9a-z])", re.IGNORECASE)  # 工单编号
ID_NUMBER = re.compile(r"(?<![0-9a-z])\d{17}[0-9x](?![0-9a-z])", re.IGNORECASE)
PHONE = PHONE_PATTERN  # the shapes read as a phone are the shapes the logs mask


@dataclass
class Entities:
    application_no: str | None = None
    ticket_no: str | None = None
    phone: str | None = None
    id_number: str | None = None  # masked: 420704********1234
    dates: list[DateMention] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"application_no": self.application_no, "ticket_no": self.ticket_no, "phone": self.phone,
                "id_number": self.id_number,
                "dates": [{"text": d.text, "start": d.start.isoformat(), "end": d.end.isoformat()} for d in self.dates]}


def extract(text: str, today: date) -> tuple[Entities, str]:
    """The entities in `text` (NFKC-normalised) and the text with each replaced by its placeholder.
    The first of each kind is kept; the numbers are taken before the phone and the dates so that
    their digits are not read twice."""
    found = Entities()

    def take(pattern: re.Pattern, placeholder: str, keep) -> None:
        nonlocal text
        pieces, last = [], 0
        for match in pattern.finditer(text):
            value = keep(match)
            if value is None:
                continue
            pieces += [text[last:match.start()], f" {placeholder} "]
            last = match.end()
        text = "".join(pieces) + text[last:]

    def first(attribute: str, value: str) -> str:
        if getattr(found, attribute) is None:
            setattr(found, attribute, value)
        return value

    take(APPLICATION_NO, "<sx>", lambda m: first("application_no", "SX" + m.group(1)))
    take(TICKET_NO, "<gd>", lambda m: first("ticket_no", "GD" + m.group(1)))
    take(ID_NUMBER, "<id>", lambda m: _masked_id(m.group(0), found))
    take(PHONE, "<phone>", lambda m: first("phone", "".join(m.groups())))
    found.dates = find_dates(text, today)
    for mention in found.dates:
        text = text.replace(mention.text, " <date> ", 1)
    return found, text


def _masked_id(candidate: str, found: Entities) -> str | None:
    try:
        number = validate_id_number(candidate)
    except InvalidIdentifier:
        return None
    if found.id_number is None:
        found.id_number = mask_id_number(number)
    return found.id_number
