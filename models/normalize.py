"""Normalising registered business names (policy C1): spaces, brackets, full/half width."""
from __future__ import annotations

import unicodedata

_BRACKETS = str.maketrans({"（": "(", "）": ")", "【": "(", "】": ")", "[": "(", "]": ")"})


def normalize_name(name: str) -> str:
    text = unicodedata.normalize("NFKC", name or "").translate(_BRACKETS)
    return "".join(text.split()).lower()
