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
    # the modeler page (web/modeler.py): bpmn-js Modeler (UMD, global BpmnJS)
    "bpmn-modeler.js": "bpmn-js/dist/bpmn-modeler.production.min.js",
    # the decision table editor: dmn-js Modeler (UMD, global DmnJS) and its styles
    "dmn-modeler.js": "dmn-js/dist/dmn-modeler.production.min.js",
    "dmn-diagram-js.css": "dmn-js/dist/assets/diagram-js.css",
    "dmn-js-shared.css": "dmn-js/dist/assets/dmn-js-shared.css",
    "dmn-js-drd.css": "dmn-js/dist/assets/dmn-js-drd.css",
    "dmn-js-decision-table.css": "dmn-js/dist/assets/dmn-js-decision-table.css",
    "dmn-js-decision-table-controls.css": "dmn-js/dist/assets/dmn-js-decision-table-controls.css",
    "dmn-js-literal-expression.css": "dmn-js/dist/assets/dmn-js-literal-expression.css",
    "dmn-js-boxed-expression.css": "dmn-js/dist/assets/dmn-js-boxed-expression.css",
    "dmn-js-boxed-expression-controls.css": "dmn-js/dist/assets/dmn-js-boxed-expression-controls.css",
    "dmn-font.css": "dmn-js/dist/assets/dmn-font/css/dmn-embedded.css",
    # report charts (web/reports.py): Apache ECharts (UMD, global echarts)
    "echarts.js": "echarts/dist/echarts.min.js",
}


@vendor_bp.get("/vendor/<name>")
def asset(name: str):
    rel = ALLOWED.get(name)
    if rel is None or not (NODE_MODULES / rel).exists():
        abort(404)
    return send_from_directory(NODE_MODULES, rel, max_age=3600)


def viewer_installed() -> bool:
    return (NODE_MODULES / ALLOWED["bpmn-viewer.js"]).exists()


def modeler_installed() -> bool:
    return (NODE_MODULES / ALLOWED["bpmn-modeler.js"]).exists()


def dmn_installed() -> bool:
    return (NODE_MODULES / ALLOWED["dmn-modeler.js"]).exists()
