"""Running BPMN: definitions and versions, instances, human tasks, assignment, sandbox, connectors."""
# Imported for their registrations: connectors (quotes, customer review, conflicts) and jobs.
from engine import (  # noqa: F401
    account_flows,
    actions,
    closure_flows,
    contract_flows,
    crm_connectors,
    customer_flows,
    deadline_jobs,
    expense_flows,
    lead_flows,
    order_flows,
    pool_jobs,
    report_jobs,
    timers,
    usage_jobs,
)
