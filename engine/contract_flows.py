"""(issue 4, in progress) contract flows."""
