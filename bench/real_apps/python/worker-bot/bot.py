"""A Discord-bot-like worker: never opens a port, runs until stopped."""

import time

import requests  # noqa: F401  (a real bot would talk to its gateway with it)

while True:
    print("bot: waiting for messages", flush=True)
    time.sleep(5)
