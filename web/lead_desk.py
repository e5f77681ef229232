"""(issue 4, in progress) pages: lead desk."""
from flask import Blueprint

lead_desk_bp = Blueprint("lead_desk", __name__)
