"""(issue 4, in progress) lead flows."""
