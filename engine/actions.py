"""(issue 4, in progress) actions."""
