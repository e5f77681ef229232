"""(issue 4, in progress) API: expenses."""
