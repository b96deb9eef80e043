"""The check characters of 居民身份证号 and 统一社会信用代码 exactly as PRODUCT.md §5 states
them, written apart from core.identity: the property tests compare two readings of the standard,
and tests and benchmarks make valid numbers with them."""

from __future__ import annotations

ID_ALPHABET = "0123456789X"
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_check_char(first17: str) -> str:
    """The 18th character of the 身份证号 that starts with these 17 digits (GB 11643)."""
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS)) % 11]


def uscc_check_char(first17: str) -> str:
    """The 18th character of the 统一社会信用代码 that starts with these 17 (GB 32100)."""
    total = sum(USCC_ALPHABET.index(c) * pow(3, i, 31) for i, c in enumerate(first17))
    return USCC_ALPHABET[(31 - total % 31) % 31]
