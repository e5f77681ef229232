"""(issue 4, in progress) pages: task actions."""
from flask import Blueprint

task_actions_bp = Blueprint("task_actions", __name__)
