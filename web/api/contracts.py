"""(issue 4, in progress) API: contracts."""
