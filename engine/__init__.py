"""Running BPMN: definitions and versions, instances, human tasks, assignment, sandbox, connectors."""
from engine import crm_connectors  # noqa: F401  (registers the CRM connectors)
