"""(issue 4, in progress) API: accounts."""
