"""`railyard` commands that live in their own modules (registered in railyard/cli.py)."""
