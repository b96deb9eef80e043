"""Hypothesis strategies for valid identifiers, shared by the property tests and the API fuzzing."""

from __future__ import annotations

from datetime import date

from hypothesis import strategies as st

from tests.identity_numbers import USCC_ALPHABET, id_check_char, uscc_check_char


@st.composite
def id_numbers(draw) -> str:
    """Valid 居民身份证号: any area, a real birth date, any sequence, the right check character."""
    area = draw(st.from_regex(r"[1-8][0-9]{5}", fullmatch=True))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2026, 11, 18)))
    first17 = f"{area}{born:%Y%m%d}{draw(st.integers(0, 999)):03d}"
    return first17 + id_check_char(first17)


@st.composite
def usccs(draw) -> str:
    """Valid 统一社会信用代码: 17 characters of the alphabet and the right check character."""
    first17 = "".join(draw(st.lists(st.sampled_from(USCC_ALPHABET), min_size=17, max_size=17)))
    return first17 + uscc_check_char(first17)
