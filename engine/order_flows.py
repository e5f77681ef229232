"""(issue 4, in progress) order flows."""
