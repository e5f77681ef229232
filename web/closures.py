"""(issue 4, in progress) pages: closures."""
from flask import Blueprint

closures_bp = Blueprint("closures", __name__)
