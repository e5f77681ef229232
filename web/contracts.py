"""(issue 4, in progress) pages: contracts."""
from flask import Blueprint

contracts_bp = Blueprint("contracts", __name__)
