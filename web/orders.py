"""(issue 4, in progress) pages: orders."""
from flask import Blueprint

orders_bp = Blueprint("orders", __name__)
