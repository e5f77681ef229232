"""Leads, opportunities, kanban and activities (L1, F1, E4, U3)."""
from __future__ import annotations

from flask import Blueprint

sales_bp = Blueprint("sales", __name__)
