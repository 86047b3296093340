"""`railyard` subcommands, one module per topic, registered in railyard/cli.py."""
