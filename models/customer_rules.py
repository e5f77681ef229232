"""Field rules for customers shared by every entry path: forms, API, Excel import (E1, C1)."""
from __future__ import annotations

import re

from pypinyin import Style, lazy_pinyin

from models.normalize import normalize_name

# GB 32100-2015 unified social credit code: 18 characters, the last a check character.
_CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_CREDIT_SHAPE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$")
_PHONE = re.compile(r"^[0-9+\-() ]{5,40}$")


def credit_code_error(code: str) -> str | None:
    """None when `code` is a valid unified social credit code, else what is wrong."""
    code = code.strip().upper()
    if len(code) != 18:
        return "a unified social credit code has 18 characters"
    if not _CREDIT_SHAPE.match(code):
        return "a unified social credit code uses digits and capital letters except I, O, S, V, Z"
    total = sum(_CREDIT_ALPHABET.index(ch) * w for ch, w in zip(code[:17], _CREDIT_WEIGHTS, strict=True))
    expected = _CREDIT_ALPHABET[(31 - total % 31) % 31]
    if code[17] != expected:
        return "the check character of the unified social credit code is wrong"
    return None


def with_check_character(first17: str) -> str:
    """Complete 17 characters with their check character (demo and test data)."""
    total = sum(_CREDIT_ALPHABET.index(ch) * w for ch, w in zip(first17, _CREDIT_WEIGHTS, strict=True))
    return first17 + _CREDIT_ALPHABET[(31 - total % 31) % 31]


def pinyin_initials(name: str) -> str:
    """Initials for search, letters and digits only: '杭州 西湖（科技）有限公司' → 'hzxhkjyxgs'."""
    letters = lazy_pinyin(name or "", style=Style.FIRST_LETTER, errors=lambda chars: list(chars))
    return "".join(ch for ch in "".join(letters).lower() if ch.isascii() and ch.isalnum())[:200]


def phone_error(phone: str) -> str | None:
    return None if _PHONE.match(phone.strip()) else "a phone number has 5–40 digits, spaces, +, - or ()"


def normalized(name: str) -> str:
    return normalize_name(name)
