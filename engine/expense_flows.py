"""(issue 4, in progress) expense flows."""
