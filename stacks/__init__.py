"""Railyard's CDK app (aws-cdk-lib v2): one stack per part of the platform, every resource read from
chalicelib/catalogue.py. `python -m stacks.app` (what stacks/cdk.json runs) synthesizes them."""
