"""(issue 4, in progress) pages: notifications."""
from flask import Blueprint

notifications_bp = Blueprint("notifications", __name__)
