"""(issue 4, in progress) deadline jobs."""
