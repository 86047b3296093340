"""`railyard` subcommands, one module per topic, each registered on railyard/cli.py's app."""
