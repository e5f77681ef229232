"""Analysis and supervision (policy A1–A3, P1–P4, U1, U2): report scopes, report tables, monthly snapshots,
the monthly ranking and usage monitoring. Every figure is computed by set-based SQL within a `ReportScope`."""
