"""(issue 4, in progress) API: lead routing."""
