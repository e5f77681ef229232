"""(issue 4, in progress) task extras."""
