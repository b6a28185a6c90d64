"""The reference design, for comparison only: boto3 at import and one S3 PutObject per request.

`make bench` stubs it at the network (botocore's HTTP send), so it measures serialization,
signing and parsing: its own cost, none of S3's.
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3

BUCKET = os.environ.get("LOG_BUCKET", "prod-reference-log-bucket")
S3 = boto3.client("s3", region_name="us-east-1")


def handler(event: Any, context: Any) -> dict[str, Any]:
    request_id = context.aws_request_id
    S3.put_object(Bucket=BUCKET, Key=f"requests/{request_id}.json", Body=json.dumps(event).encode())
    return {"statusCode": 200, "body": json.dumps({"message": "Hello from Prod", "requestId": request_id})}
