"""The one way this stack makes a log group: encrypted with the archive key, kept, with a retention."""

from __future__ import annotations

from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from prod_serverless.keys import KEEP
from prod_serverless.settings import LOG_RETENTION_DAYS

# CDK's RetentionDays members, in the same order as the day counts CloudWatch Logs accepts.
_RETENTION_NAMES = (
    "ONE_DAY", "THREE_DAYS", "FIVE_DAYS", "ONE_WEEK", "TWO_WEEKS", "ONE_MONTH", "TWO_MONTHS",
    "THREE_MONTHS", "FOUR_MONTHS", "FIVE_MONTHS", "SIX_MONTHS", "ONE_YEAR", "THIRTEEN_MONTHS",
    "EIGHTEEN_MONTHS", "TWO_YEARS", "THREE_YEARS", "FIVE_YEARS", "SIX_YEARS", "SEVEN_YEARS",
    "EIGHT_YEARS", "NINE_YEARS", "TEN_YEARS",
)  # fmt: skip
RETENTION = {days: logs.RetentionDays[name] for days, name in zip(LOG_RETENTION_DAYS, _RETENTION_NAMES, strict=True)}


def encrypted_log_group(
    scope: Construct, construct_id: str, *, retention_days: int, key: kms.IKey, name: str | None = None
) -> logs.LogGroup:
    """A log group that outlives the stack: logs are evidence, not build artefacts."""
    return logs.LogGroup(
        scope,
        construct_id,
        log_group_name=name,
        retention=RETENTION[retention_days],
        encryption_key=key,
        removal_policy=KEEP,
    )
