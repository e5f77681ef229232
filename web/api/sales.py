"""API: Leads, opportunities, kanban and activities (L1, F1, E4, U3)."""
from __future__ import annotations
