"""Developer tools that never deploy: local server, benchmark, smoke test."""
