"""(issue 4, in progress) API: orders."""
