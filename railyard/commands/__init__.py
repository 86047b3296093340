"""CLI commands grouped by topic, each registered on railyard/cli.py's apps with a line or two."""
