"""(issue 4, in progress) closure flows."""
