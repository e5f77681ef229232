"""API: Customers, contacts, collaborators and conflict cases (C1, C2, E1–E5)."""
from __future__ import annotations
