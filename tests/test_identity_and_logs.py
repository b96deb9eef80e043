"""Identity numbers are checked by their checksums; logs never carry a full ID or phone number."""

from __future__ import annotations

import io
import json
import logging

import pytest

from core.identity import (
    InvalidIdentifier,
    mask_id_number,
    mask_personal_data,
    mask_phone,
    validate_id_number,
    validate_uscc,
)
from core.logs import configure_logging, request_id_var


def test_valid_id_numbers_pass_and_are_normalised():
    assert validate_id_number(" 11010519491231002x ") == "11010519491231002X"


@pytest.mark.parametrize(("number", "words"), [
    ("11010519491231002", "18位"),
    ("110105194912310021", "校验位"),
    ("110105194913310028", "出生日期"),
    ("11010519491231002Y", "18位"),
])
def test_invalid_id_numbers_are_refused_with_a_reason(number, words):
    with pytest.raises(InvalidIdentifier, match=words):
        validate_id_number(number)


def test_uscc_checksum():
    assert validate_uscc("91350200776049653a") == "91350200776049653A"
    with pytest.raises(InvalidIdentifier, match="校验位"):
        validate_uscc("91350200776049653B")
    with pytest.raises(InvalidIdentifier, match="18位"):
        validate_uscc("9135020077604965IO")


def test_masks():
    assert mask_id_number("420704199001011234") == "420704********1234"
    assert mask_phone("13800138000") == "138****8000"
    text = "张三 11010519491231002X 电话13800138000，工单GD20261118000042，办件SX20261105000123"
    masked = mask_personal_data(text)
    assert masked == "张三 110105********002X 电话138****8000，工单GD20261118000042，办件SX20261105000123"
    # typed in full width, as the understanding still reads them
    assert mask_personal_data("电话１３８ ００１３ ８０００，证件１１０１０５１９４９１２３１００２Ｘ") == \
        "电话１３８****８０００，证件１１０１０５********００２Ｘ"
    # glued to letters, as typed in a hurry; a longer run of digits (a bank card) is no ID number
    assert mask_personal_data("sfz11010519491231002Xtel13800138000") == "sfz110105********002Xtel138****8000"
    assert mask_personal_data("卡号6222021234567890123") == "卡号6222021234567890123"


def test_log_lines_are_json_with_request_id_and_masked_personal_data():
    buffer = io.StringIO()
    configure_logging("INFO", buffer)
    token = request_id_var.set("req-12345678")
    try:
        log = logging.getLogger("test")
        log.info("bound %s to %s", "11010519491231002X", "13800138000", extra={"phone": "13912345678", "n": 1})
        log.warning("plain 13800138000 inside text")
    finally:
        request_id_var.reset(token)
        configure_logging("INFO")
    raw = buffer.getvalue()
    assert "11010519491231002X" not in raw and "13800138000" not in raw and "13912345678" not in raw
    first, second = (json.loads(line) for line in raw.splitlines())
    assert first["msg"] == "bound 110105********002X to 138****8000"
    assert first["phone"] == "139****5678" and first["n"] == 1
    assert first["request_id"] == "req-12345678" and first["level"] == "info"
    assert first["ts"].endswith("+08:00")
    assert second["msg"] == "plain 138****8000 inside text"
