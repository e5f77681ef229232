"""API: Excel import and export (E1, C1, O6)."""
from __future__ import annotations
