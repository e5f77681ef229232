"""Serves front-end libraries installed by npm (never committed) under /vendor/."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, send_from_directory

vendor_bp = Blueprint("vendor", __name__)
NODE_MODULES = Path(__file__).resolve().parent.parent / "node_modules"
# Only these files are exposed, not the whole node_modules tree.
ALLOWED = {
    "bpmn-viewer.js": "bpmn-js/dist/bpmn-navigated-viewer.production.min.js",
    "bpmn-js.css": "bpmn-js/dist/assets/bpmn-js.css",
    "diagram-js.css": "bpmn-js/dist/assets/diagram-js.css",
    "bpmn-font.css": "bpmn-js/dist/assets/bpmn-font/css/bpmn-embedded.css",
}


@vendor_bp.get("/vendor/<name>")
def asset(name: str):
    rel = ALLOWED.get(name)
    if rel is None or not (NODE_MODULES / rel).exists():
        abort(404)
    return send_from_directory(NODE_MODULES, rel, max_age=3600)


def viewer_installed() -> bool:
    return (NODE_MODULES / ALLOWED["bpmn-viewer.js"]).exists()
