"""(issue 4, in progress) account flows."""
