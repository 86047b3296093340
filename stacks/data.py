"""DataStack: the one DynamoDB table (a global table when the stage has several regions) and the
buckets, as chalicelib/catalogue.py declares them and chalicelib/adapters/dynamo/ uses them.

Only the primary region has this stack: the table replicates itself to the other regions, and
bucket names are global (docs/multi-region.md says what that means for a failover)."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct

from chalicelib.adapters.dynamo.layout import INDEX_NAME, TTL_ATTRIBUTE, UNFINISHED_INDEX_NAME
from chalicelib.catalogue import OUTPUT_TABLE_NAME, Catalogue
from stacks.keys import variables_key
from stacks.stage import StageContext

# The index keys chalicelib/adapters/dynamo writes: `<index>pk` / `<index>sk`, strings.
_INDEXES = (INDEX_NAME, UNFINISHED_INDEX_NAME)
# Lifecycle (docs/decisions/0013): the app's retention deletes logs and artifacts it no longer needs
# (docs/decisions/0008); these rules only bound what nothing else deletes.
SOURCE_UPLOADS_DAYS = 90  # `sources/` tarballs the CLI uploads: read by the build, then history
CODEBUILD_SOURCES_DAYS = 7  # `codebuild-sources/` ZIPs: read once, by the build they were made for
LOGS_TO_INFREQUENT_ACCESS_DAYS = 30  # logs are read while a deployment is fresh, rarely after


class DataStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, stage: StageContext, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        catalogue = stage.catalogue
        retain = RemovalPolicy.RETAIN if stage.is_prod else RemovalPolicy.DESTROY
        declared = catalogue.table
        assert set(declared.gsis) == set(_INDEXES), "catalogue and dynamo adapter disagree on indexes"
        string = dynamodb.AttributeType.STRING
        self.table = dynamodb.TableV2(
            self,
            "Table",
            table_name=declared.name,
            partition_key=dynamodb.Attribute(name="pk", type=string),
            sort_key=dynamodb.Attribute(name="sk", type=string),
            billing=dynamodb.Billing.on_demand(),
            global_secondary_indexes=[
                dynamodb.GlobalSecondaryIndexPropsV2(
                    index_name=index,
                    partition_key=dynamodb.Attribute(name=f"{index}pk", type=string),
                    sort_key=dynamodb.Attribute(name=f"{index}sk", type=string),
                    projection_type=dynamodb.ProjectionType.ALL,
                )
                for index in declared.gsis
            ],
            time_to_live_attribute=TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=stage.is_prod,
            removal_policy=retain,
            # Every region of the stage but this one holds a replica (last writer wins per item).
            replicas=[
                dynamodb.ReplicaTableProps(region=region, deletion_protection=stage.is_prod)
                for region in stage.replica_regions
            ],
        )
        self.buckets = {
            bucket.key: s3.Bucket(
                self,
                f"{bucket.key.title()}Bucket",
                bucket_name=bucket.name,
                encryption=s3.BucketEncryption.S3_MANAGED,
                block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
                enforce_ssl=True,
                removal_policy=retain,
                auto_delete_objects=False,
                lifecycle_rules=_lifecycle(bucket.key),
            )
            for bucket in catalogue.buckets
        }
        self.variables_key = variables_key(self, catalogue, retain)
        CfnOutput(self, OUTPUT_TABLE_NAME, value=self.table.table_name)


def _codebuild_sources_prefix() -> str:
    """`codebuild-sources/`: what BuildIsolation.source_prefix puts before every project's id."""
    return Catalogue("any").build_isolation.source_prefix("").rstrip("/") + "/"


def _lifecycle(bucket_key: str) -> list[s3.LifecycleRule]:
    # The CLI PUTs a source with one presigned request (no multipart), but a client that does not
    # finish an upload must not leave parts billed forever.
    rules = [
        s3.LifecycleRule(
            id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=Duration.days(1)
        )
    ]
    if bucket_key == "sources":
        rules += [
            s3.LifecycleRule(
                id="expire-uploads", prefix="sources/", expiration=Duration.days(SOURCE_UPLOADS_DAYS)
            ),
            s3.LifecycleRule(
                id="expire-codebuild-sources",
                prefix=_codebuild_sources_prefix(),
                expiration=Duration.days(CODEBUILD_SOURCES_DAYS),
            ),
        ]
    if bucket_key == "logs":
        rules.append(
            s3.LifecycleRule(
                id="logs-to-infrequent-access",
                transitions=[
                    s3.Transition(
                        storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                        transition_after=Duration.days(LOGS_TO_INFREQUENT_ACCESS_DAYS),
                    )
                ],
            )
        )
    return rules
