"""The log archive: a KMS-encrypted S3 bucket fed by CloudWatch Logs → Firehose, one stream per source.

Firehose's own processors decompress the CloudWatch Logs records and keep only the messages, so
each delivered object holds one JSON log line per line, GZIP-compressed, under a Hive-style
time-partitioned prefix of its source. Nothing in the request path writes to S3.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from prod_serverless.buckets import hardened_bucket
from prod_serverless.compliance import FRAMEWORK_PACKS, acknowledge, arn_token
from prod_serverless.keys import customer_managed_key
from prod_serverless.log_groups import encrypted_log_group
from prod_serverless.settings import Settings

ERRORS_PREFIX = "errors/"
ACCESS_LOGS_RETENTION = Duration.days(365)
DELIVERY_ERRORS_RETENTION_DAYS = 365
PARTITION_PATH = "year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/"


def data_prefix(source: str) -> str:
    """Where a source's log lines land: `<source>/year=…/month=…/day=…/`."""
    return f"{source}/{PARTITION_PATH}"


def error_prefix(source: str) -> str:
    """Where Firehose puts a source's records it could not process or deliver."""
    return f"{ERRORS_PREFIX}{source}/!{{firehose:error-output-type}}/{PARTITION_PATH}"


class LogArchive(Construct):
    """Encrypted, versioned, TLS-only log bucket and its CMK; `add_source` streams a log group into it."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self._settings = settings
        self.streams: dict[str, firehose.CfnDeliveryStream] = {}
        self.sources: dict[str, logs.ILogGroup] = {}  # source -> the log group streamed into it

        self.key = customer_managed_key(
            self,
            "Key",
            description="Prod log archive: CloudWatch Logs groups, Firehose streams, S3 objects, Athena results",
            alias=settings.names.alias("log-archive"),
        )
        # CloudWatch Logs may use the key only for log groups of this account in this region.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsForThisAccountsLogGroups",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=[
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:ReEncryptFrom",
                    "kms:ReEncryptTo",
                    "kms:GenerateDataKey",
                    "kms:GenerateDataKeyWithoutPlaintext",
                    "kms:DescribeKey",
                ],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": (
                            f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:*"
                        )
                    }
                },
            )
        )

        # S3 server access logs cannot be delivered to an SSE-KMS bucket, hence SSE-S3 here.
        self.access_logs_bucket = hardened_bucket(
            self,
            "AccessLogsBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireAccessLogs",
                    expiration=ACCESS_LOGS_RETENTION,
                    noncurrent_version_expiration=Duration.days(settings.archive_noncurrent_expiration_days),
                )
            ],
        )

        self.bucket = hardened_bucket(
            self,
            "Bucket",
            lock_days=settings.archive_object_lock_days,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            server_access_logs_bucket=self.access_logs_bucket,
            server_access_logs_prefix="log-archive/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="TierAndExpireLogs",
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                            transition_after=Duration.days(settings.archive_infrequent_access_days),
                        )
                    ],
                    expiration=Duration.days(settings.archive_expiration_days),
                    noncurrent_version_expiration=Duration.days(settings.archive_noncurrent_expiration_days),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                ),
            ],
        )
        self._acknowledge_bucket_controls(locked=bool(settings.archive_object_lock_days))

        for pack in FRAMEWORK_PACKS:
            for bucket in (self.bucket, self.access_logs_bucket):
                acknowledge(
                    bucket,
                    f"{pack}-S3BucketReplicationEnabled",
                    "Single-region reference: versioning and RETAIN guard deletion; CRR needs a second-region "
                    "bucket and key outside this one stack.",
                )
            acknowledge(
                self.access_logs_bucket,
                f"{pack}-S3DefaultEncryptionKMS",
                "S3 server access logs can only be delivered to an SSE-S3 bucket, not an SSE-KMS one.",
            )

        # Firehose's own errors: never subscribed into the pipeline, or a failure would loop. Not archived,
        # so kept a year here (Control Tower CT.CLOUDWATCH.PR.2): it is the evidence of logs that were lost.
        self.delivery_log_group = encrypted_log_group(
            self,
            "DeliveryLogGroup",
            retention_days=max(DELIVERY_ERRORS_RETENTION_DAYS, settings.log_retention_days),
            key=self.key,
        )

        # Assumable only by CloudWatch Logs acting for this account and region (confused-deputy guard);
        # the wildcard is the log group, which the subscription filter names at run time.
        self.subscription_role = iam.Role(
            self,
            "SubscriptionRole",
            description="CloudWatch Logs to Firehose: put records to the Prod log archive streams only",
            assumed_by=iam.ServicePrincipal(
                f"logs.{stack.region}.amazonaws.com",
                conditions={
                    "StringLike": {"aws:SourceArn": f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:*"}
                },
            ),
        )
        self._subscription_policy: iam.ManagedPolicy | None = None

    def _acknowledge_bucket_controls(self, *, locked: bool) -> None:
        """Control Tower controls these buckets cannot meet, each with the reason."""
        acknowledge(
            self.access_logs_bucket,
            "CT.S3.PR.9",
            "S3 does not deliver server access logs to a bucket with a default Object Lock retention.",
        )
        acknowledge(
            self.access_logs_bucket,
            "CT.S3.PR.2",
            "This bucket receives the archive's server access logs; logging it into itself would loop.",
        )
        acknowledge(
            self.access_logs_bucket,
            "CT.S3.PR.10",
            "S3 server access logs can only be delivered to an SSE-S3 bucket, not an SSE-KMS one.",
        )
        if not locked:
            acknowledge(
                self.bucket,
                "CT.S3.PR.9",
                "Object Lock is opt-in (archiveObjectLockDays): no AWS page establishes that Firehose sends "
                "the checksum S3 requires on PUTs to a bucket with a default retention.",
            )

    @property
    def subscription_policy(self) -> iam.ManagedPolicy:
        """What CloudWatch Logs may do: put records to the streams added so far (made with the first)."""
        if self._subscription_policy is None:
            self._subscription_policy = iam.ManagedPolicy(
                self,
                "SubscriptionPolicy",
                description="CloudWatch Logs to Firehose: put records to the Prod log archive streams",
                roles=[self.subscription_role],
            )
        return self._subscription_policy

    def add_source(self, source: str, log_group: logs.ILogGroup) -> firehose.CfnDeliveryStream:
        """Stream every event of `log_group` into `<source>/…` of the bucket."""
        if source in self.streams:
            raise ValueError(f"log archive source {source!r} is already added")
        name = source.capitalize()
        delivery_log_stream = logs.LogStream(self, f"{name}DeliveryLogStream", log_group=self.delivery_log_group)

        role, policy = self._delivery_role(source, delivery_log_stream)

        # L1: the L2 S3 destination would grant read/write on the whole bucket, not this source's prefixes.
        stream = firehose.CfnDeliveryStream(
            self,
            f"{name}Stream",
            delivery_stream_type="DirectPut",
            delivery_stream_encryption_configuration_input=firehose.CfnDeliveryStream.DeliveryStreamEncryptionConfigurationInputProperty(
                key_type="CUSTOMER_MANAGED_CMK", key_arn=self.key.key_arn
            ),
            extended_s3_destination_configuration=firehose.CfnDeliveryStream.ExtendedS3DestinationConfigurationProperty(
                bucket_arn=self.bucket.bucket_arn,
                role_arn=role.role_arn,
                prefix=data_prefix(source),
                error_output_prefix=error_prefix(source),
                compression_format="GZIP",
                buffering_hints=firehose.CfnDeliveryStream.BufferingHintsProperty(
                    interval_in_seconds=self._settings.firehose_buffer_seconds,
                    size_in_m_bs=self._settings.firehose_buffer_mib,
                ),
                encryption_configuration=firehose.CfnDeliveryStream.EncryptionConfigurationProperty(
                    kms_encryption_config=firehose.CfnDeliveryStream.KMSEncryptionConfigProperty(
                        awskms_key_arn=self.key.key_arn
                    )
                ),
                cloud_watch_logging_options=firehose.CfnDeliveryStream.CloudWatchLoggingOptionsProperty(
                    enabled=True,
                    log_group_name=self.delivery_log_group.log_group_name,
                    log_stream_name=delivery_log_stream.log_stream_name,
                ),
                processing_configuration=firehose.CfnDeliveryStream.ProcessingConfigurationProperty(
                    enabled=True,
                    processors=[
                        _processor("Decompression", CompressionFormat="GZIP"),
                        _processor("CloudWatchLogProcessing", DataMessageExtraction="true"),
                        # Firehose's "Message extraction" page shows one message per line within a record
                        # but does not say whether a record ends with a newline. Without this delimiter
                        # the last line of one record could run into the first of the next and both would
                        # be unreadable; with it, the worst case is a blank line, which Athena reads as a
                        # NULL row that every README query skips (log_catalog.py).
                        _processor("AppendDelimiterToRecord"),
                    ],
                ),
            ),
        )
        # Firehose checks its access to the bucket on creation: the policy must be attached first.
        stream.node.add_dependency(policy)

        self.subscription_policy.add_statements(
            iam.PolicyStatement(
                sid=f"PutRecordsTo{name}Stream",
                actions=["firehose:PutRecord", "firehose:PutRecordBatch"],
                resources=[stream.attr_arn],
            )
        )
        # L1: the L2 Firehose destination would grant through an inline policy (IAMNoInlinePolicy).
        subscription = logs.CfnSubscriptionFilter(
            self,
            f"{name}Subscription",
            log_group_name=log_group.log_group_name,
            destination_arn=stream.attr_arn,
            filter_pattern="",  # every event
            role_arn=self.subscription_role.role_arn,
        )
        # CloudWatch Logs test-writes to the stream on creation: the role must already be allowed.
        subscription.node.add_dependency(self.subscription_policy)
        self.streams[source] = stream
        self.sources[source] = log_group
        acknowledge(
            log_group,
            "CT.CLOUDWATCH.PR.2",
            f"Every event is archived to S3 for {self._settings.archive_expiration_days} days by this subscription; "
            "CloudWatch keeps the group only for logRetentionDays, for cost.",
        )
        return stream

    def _delivery_role(self, source: str, delivery_log_stream: logs.LogStream) -> tuple[iam.Role, iam.ManagedPolicy]:
        """Firehose's role for one source: its two prefixes of the one bucket, the one key, its error stream."""
        name = source.capitalize()
        stack = Stack.of(self)
        bucket_arn = self.bucket.bucket_arn
        role = iam.Role(
            self,
            f"{name}DeliveryRole",
            description=f"Firehose to S3: write the {source}/ and {ERRORS_PREFIX}{source}/ prefixes of the log archive",
            assumed_by=iam.ServicePrincipal(
                "firehose.amazonaws.com",
                conditions={"StringEquals": {"sts:ExternalId": stack.account}},
            ),
        )
        object_arns = [f"{bucket_arn}/{source}/*", f"{bucket_arn}/{ERRORS_PREFIX}{source}/*"]
        policy = iam.ManagedPolicy(
            self,
            f"{name}DeliveryPolicy",
            description=f"Firehose to S3 for the {source} logs: own prefixes, archive key, own error stream",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    sid="WriteOwnPrefixes",
                    actions=["s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObject"],
                    resources=object_arns,
                ),
                iam.PolicyStatement(
                    sid="LocateBucket",
                    actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                    resources=[bucket_arn],
                ),
                iam.PolicyStatement(
                    sid="EncryptWithArchiveKeyThroughS3",
                    actions=["kms:GenerateDataKey", "kms:Decrypt"],
                    resources=[self.key.key_arn],
                    conditions={
                        "StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"},
                        # With an S3 Bucket Key the context is the bucket ARN, else the object ARN.
                        "StringLike": {"kms:EncryptionContext:aws:s3:arn": [bucket_arn, *object_arns]},
                    },
                ),
                iam.PolicyStatement(
                    sid="WriteOwnDeliveryErrors",
                    actions=["logs:PutLogEvents"],
                    resources=[
                        stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name=(
                                f"{self.delivery_log_group.log_group_name}:log-stream:"
                                f"{delivery_log_stream.log_stream_name}"
                            ),
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    ],
                ),
            ],
        )

        for object_arn in (f"{source}/*", f"{ERRORS_PREFIX}{source}/*"):
            acknowledge(
                policy,
                f"AwsSolutions-IAM5[Resource::{arn_token(self.bucket)}/{object_arn}]",
                "Firehose names each object at delivery time; the wildcard is confined to this source's prefix.",
            )
        return role, policy


def _processor(kind: str, **parameters: str) -> firehose.CfnDeliveryStream.ProcessorProperty:
    return firehose.CfnDeliveryStream.ProcessorProperty(
        type=kind,
        parameters=[
            firehose.CfnDeliveryStream.ProcessorParameterProperty(parameter_name=key, parameter_value=value)
            for key, value in parameters.items()
        ]
        or None,
    )
