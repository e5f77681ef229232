"""Running BPMN: definitions and versions, instances, human tasks, assignment, sandbox, connectors."""
# Imported for their registrations: connectors (quotes, customer review, conflicts) and jobs.
from engine import crm_connectors, customer_flows, pool_jobs  # noqa: F401
