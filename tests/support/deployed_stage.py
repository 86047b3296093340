"""A stand-in for a stage deployed with CDK, on in-process moto: the data and api stacks exist under
the catalogue's stack names with the catalogue's output keys (what `railyard admin bootstrap`
reads), and the table the data stack names exists, made by the platform's own create_table."""

from __future__ import annotations

import json
from typing import Any

import boto3

from chalicelib.adapters.dynamo.schema import create_table
from chalicelib.catalogue import OUTPUT_API_URL, OUTPUT_TABLE_NAME, Catalogue

REGION = "us-east-1"  # tests/support/moto_inprocess.py's region
API_URL = "https://abc123.execute-api.us-east-1.amazonaws.com/api/"


def stand_in_stack(stack_name: str, outputs: dict[str, str]) -> None:
    """A CloudFormation stack named `stack_name` whose outputs are `outputs` (one harmless resource:
    CloudFormation wants at least one)."""
    template: dict[str, Any] = {
        "Resources": {
            "StandIn": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {"Name": f"/stand-in/{stack_name}", "Type": "String", "Value": "x"},
            }
        },
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName=stack_name, TemplateBody=json.dumps(template)
    )


def deploy_stage(stage: str, *, api_outputs: bool = True) -> Catalogue:
    """The stage's data stack (with its table) and api stack; `api_outputs=False` leaves the api
    stack without outputs (a stack from another release, or one that did not finish)."""
    catalogue = Catalogue(stage)
    create_table(catalogue.table.name)
    stand_in_stack(catalogue.stack_name("data"), {OUTPUT_TABLE_NAME: catalogue.table.name})
    stand_in_stack(catalogue.stack_name("api"), {OUTPUT_API_URL: API_URL} if api_outputs else {})
    return catalogue


def table_items(table_name: str) -> list[dict[str, Any]]:
    """Every item of the table, sorted (a Scan: tests only)."""
    client = boto3.client("dynamodb", region_name=REGION)
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(TableName=table_name, ConsistentRead=True):
        items.extend(page["Items"])
    return sorted(items, key=lambda item: (item["pk"]["S"], item["sk"]["S"]))
