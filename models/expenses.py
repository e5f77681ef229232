"""(issue 4, in progress) expenses."""
