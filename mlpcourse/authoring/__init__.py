"""Writing the assignment: the master notebook, its fixtures, and the release students get."""
