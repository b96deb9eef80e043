"""Entities: numbers, phone, masked ID number and dates, resolved against a fixed day."""

from __future__ import annotations

from datetime import date

import pytest

from intents.dates import find_dates
from intents.entities import extract
from knowledge_base.text import fold

TODAY = date(2026, 11, 21)  # a Saturday


def entities(text: str):
    return extract(fold(text), TODAY)[0]


def test_application_and_ticket_numbers_in_any_case_and_width():
    found = entities("帮我查下ｓｘ２０２６１１０５０００１２３和GD 20261118000042")
    assert found.application_no == "SX20261105000123"
    assert found.ticket_no == "GD20261118000042"


@pytest.mark.parametrize("text", ["SX2026110500012", "SX202611050001234", "ASX20261105000123", "SX20261105000123X1"])
def test_numbers_of_the_wrong_length_or_glued_to_letters_are_not_application_numbers(text):
    assert entities(text).application_no is None


@pytest.mark.parametrize("text, phone", [
    ("我的电话13800138000", "13800138000"),
    ("联系方式：138-0013-8000 谢谢", "13800138000"),
    ("+86 139 1234 5678", "13912345678"),
])
def test_mobile_numbers_with_separators(text, phone):
    assert entities(text).phone == phone


def test_digits_inside_an_application_number_are_not_a_phone():
    found = entities("SX13800138000123")
    assert found.application_no == "SX13800138000123" and found.phone is None


def test_id_number_is_returned_masked_and_only_with_a_valid_checksum():
    assert entities("身份证11010519491231002X").id_number == "110105********002X"
    assert entities("身份证110105194912310021").id_number is None  # wrong check digit
    assert entities("身份证11010519491231002X").phone is None


def test_placeholders_replace_entities_in_the_text_the_classifier_sees():
    _, marked = extract(fold("SX20261105000123 昨天 13800138000"), TODAY)
    assert marked.split() == ["<sx>", "<date>", "<phone>"]


@pytest.mark.parametrize("text, start, end", [
    ("今天", "2026-11-21", "2026-11-21"),
    ("昨天下午", "2026-11-20", "2026-11-20"),
    ("大前天", "2026-11-18", "2026-11-18"),
    ("上周", "2026-11-09", "2026-11-15"),
    ("上个星期三", "2026-11-11", "2026-11-11"),
    ("周一", "2026-11-16", "2026-11-16"),
    ("这周末", "2026-11-21", "2026-11-22"),
    ("下周五", "2026-11-27", "2026-11-27"),
    ("上个月", "2026-10-01", "2026-10-31"),
    ("本月", "2026-11-01", "2026-11-30"),
    ("去年", "2025-01-01", "2025-12-31"),
    ("三天前", "2026-11-18", "2026-11-18"),
    ("两周前", "2026-11-07", "2026-11-07"),
    ("3个月前", "2026-08-01", "2026-08-31"),
    ("11月5日", "2026-11-05", "2026-11-05"),
    ("十一月五号", "2026-11-05", "2026-11-05"),
    ("12月28日", "2026-12-28", "2026-12-28"),
    ("2025年3月", "2025-03-01", "2025-03-31"),
    ("2026-10-13", "2026-10-13", "2026-10-13"),
    ("2024/2/29", "2024-02-29", "2024-02-29"),
])
def test_dates_and_relative_dates(text, start, end):
    [mention] = find_dates(text, TODAY)
    assert (mention.start.isoformat(), mention.end.isoformat()) == (start, end)


def test_month_and_day_without_a_year_take_the_nearest_year():
    assert find_dates("12月28日", date(2027, 1, 10))[0].start == date(2026, 12, 28)
    assert find_dates("1月3日", date(2026, 12, 30))[0].start == date(2027, 1, 3)


@pytest.mark.parametrize("text", ["2月30日", "13月1日", "2026-02-30", "办了三个月"])
def test_impossible_or_vague_dates_are_left_out(text):
    assert find_dates(text, TODAY) == []


def test_several_dates_in_order():
    mentions = find_dates("11月5日提交的，上周又去了一趟", TODAY)
    assert [m.text for m in mentions] == ["11月5日", "上周"]
