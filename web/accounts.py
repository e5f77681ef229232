"""(issue 4, in progress) pages: accounts."""
from flask import Blueprint

accounts_bp = Blueprint("accounts", __name__)
