"""The fault suite (issue 8): the platform killed and restarted, racing deploys, duplicate requests,
load and crash loops. Every test is bounded, talks to 127.0.0.1 only and prints its figures."""
