"""CLI commands grouped by topic, each module registering itself on the `railyard` app (railyard/cli.py)."""
