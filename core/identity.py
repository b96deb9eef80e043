"""Identity numbers: 居民身份证号 (GB 11643) and 统一社会信用代码 (GB 32100), and masking.

Masking is used everywhere a number is shown to anyone but its owner, and by the log filter,
so that no full ID or phone number is ever written to a log.
"""

from __future__ import annotations

import re
from datetime import date

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))

# Digits, letters and separators in half and full width (１３９…, as a Chinese keyboard may type
# them): the understanding folds full width before it reads a number, so masking must see both.
# An ID number is bounded by anything but a digit: one glued to letters (sfz11010519491231002X)
# is masked too. A longer run of digits (a bank card, an order number) is not an ID number.
_DIGIT, _SEP = "[0-9０-９]", "[-－ 　]"
ID_NUMBER_PATTERN = re.compile(
    rf"(?<!{_DIGIT})({_DIGIT}{{6}})({_DIGIT}{{8}})({_DIGIT}{{3}}[0-9Xx０-９Ｘｘ])(?!{_DIGIT})")
# Every shape the understanding reads as a phone (intents.entities.PHONE): +86 and separators too.
PHONE_PATTERN = re.compile(rf"(?<!{_DIGIT})(?:[+＋]?[8８][6６]{_SEP}?)?([1１][3-9３-９]{_DIGIT}){_SEP}?"
                           rf"({_DIGIT}{{4}}){_SEP}?({_DIGIT}{{4}})(?!{_DIGIT})")
# What both contain: a digit and ten more digits or separators, in a row. Most text (every log
# line passes here) has none, and this is found or ruled out some fifty times faster.
_NUMBER_RUN = re.compile(r"[0-9０-９][-－ 　0-9０-９]{10}")


class InvalidIdentifier(ValueError):
    """A number that fails its format or checksum; the message is Chinese, for the user."""


def validate_id_number(value: str) -> str:
    """Return the normalised 18-digit 身份证号 (upper-case X) or raise InvalidIdentifier."""
    number = value.strip().upper()
    if not re.fullmatch(r"\d{17}[\dX]", number):
        raise InvalidIdentifier("身份证号应为18位，前17位为数字，最后一位为数字或X")
    try:
        date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidIdentifier("身份证号中的出生日期无效") from None
    total = sum(int(c) * w for c, w in zip(number[:17], _ID_WEIGHTS))
    if _ID_CHECK[total % 11] != number[17]:
        raise InvalidIdentifier("身份证号校验位不正确，请核对后重新输入")
    return number


def validate_uscc(value: str) -> str:
    """Return the normalised 18-character 统一社会信用代码 or raise InvalidIdentifier."""
    code = value.strip().upper()
    if len(code) != 18 or any(c not in _USCC_ALPHABET for c in code):
        raise InvalidIdentifier("统一社会信用代码应为18位数字或大写字母（不含I、O、Z、S、V）")
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(code[:17], _USCC_WEIGHTS))
    if _USCC_ALPHABET[(31 - total % 31) % 31] != code[17]:
        raise InvalidIdentifier("统一社会信用代码校验位不正确，请核对后重新输入")
    return code


def mask_id_number(number: str) -> str:
    """420704********1234: first six and last four kept."""
    return number[:6] + "*" * (len(number) - 10) + number[-4:] if len(number) > 10 else "*" * len(number)


def mask_phone(phone: str) -> str:
    """138****8000."""
    return phone[:3] + "****" + phone[-4:] if len(phone) == 11 else "*" * len(phone)


def mask_name(name: str) -> str:
    """张**: the surname (first character) only."""
    return name[0] + "*" * (len(name) - 1) if len(name) > 1 else name


def mask_personal_data(text: str) -> str:
    """Mask every 18-digit ID number and mobile number inside free text."""
    return text if _NUMBER_RUN.search(text) is None else _mask_numbers(text)


def _mask_numbers(text: str) -> str:
    text = ID_NUMBER_PATTERN.sub(lambda m: m.group(1) + "********" + m.group(3)[-4:], text)
    return PHONE_PATTERN.sub(lambda m: m.group(1) + "****" + m.group(3), text)
