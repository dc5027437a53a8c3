"""Running an untrusted notebook: the sandboxed kernel, the grader's re-runs, and their protocol."""
