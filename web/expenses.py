"""(issue 4, in progress) pages: expenses."""
from flask import Blueprint

expenses_bp = Blueprint("expenses", __name__)
