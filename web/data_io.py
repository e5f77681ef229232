"""Excel import and export (E1, C1, O6)."""
from __future__ import annotations

from flask import Blueprint

data_io_bp = Blueprint("data_io", __name__)
