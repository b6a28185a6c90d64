"""The offline AWS: each resource a function's variables name is created from its template definition, every
variable resolves to the local resource, and nothing can reach a real account."""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError

from tools.offline_aws import ACCOUNT, CREDENTIALS, UNREACHABLE, OfflineError, offline_aws, referenced, resolve

REGION = "eu-west-1"
RESOURCES: dict[str, Any] = {
    "ProdItemsTable": {
        "Type": "AWS::DynamoDB::GlobalTable",
        "Properties": {
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "AttributeDefinitions": [
                {"AttributeName": "id", "AttributeType": "S"},
                {"AttributeName": "owner", "AttributeType": "S"},
            ],
            "BillingMode": "PAY_PER_REQUEST",
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": "byOwner",
                    "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                    "WriteOnDemandThroughputSettings": {"MaxWriteRequestUnits": 10},
                }
            ],
            "Replicas": [{"Region": REGION}],
        },
    },
    "ProdJobsQueue": {"Type": "AWS::SQS::Queue", "Properties": {"FifoQueue": True, "VisibilityTimeout": 90}},
    "ProdUploads": {"Type": "AWS::S3::Bucket", "Properties": {}},
    "ProdApiKey": {
        "Type": "AWS::SecretsManager::Secret",
        "Properties": {
            "GenerateSecretString": {
                "SecretStringTemplate": '{"user": "api"}',
                "GenerateStringKey": "password",
                "PasswordLength": 40,
            }
        },
    },
    "ProdFlag": {"Type": "AWS::SSM::Parameter", "Properties": {"Type": "String", "Value": "on"}},
    "ProdNotNamed": {"Type": "AWS::SQS::Queue", "Properties": {}},
}
VARIABLES: dict[str, object] = {
    "GREETING": "hello",
    "ITEMS_TABLE": {"Ref": "ProdItemsTable"},
    "ITEMS_TABLE_ARN": {"Fn::GetAtt": ["ProdItemsTable", "Arn"]},
    "JOBS_URL": {"Ref": "ProdJobsQueue"},
    "JOBS_ARN": {"Fn::GetAtt": ["ProdJobsQueue", "Arn"]},
    "UPLOADS": {"Ref": "ProdUploads"},
    "API_KEY_ARN": {"Ref": "ProdApiKey"},
    "FLAG": {"Ref": "ProdFlag"},
    "HOME_REGION": {"Ref": "AWS::Region"},
}


def test_only_the_resources_the_variables_name_are_made() -> None:
    assert set(referenced(VARIABLES, RESOURCES)) == set(RESOURCES) - {"ProdNotNamed"}


def test_every_resource_exists_as_its_definition_says_and_every_variable_names_it() -> None:
    with offline_aws(VARIABLES, RESOURCES, REGION) as env:
        assert {name: os.environ[name] for name in env} == env  # the process has them, as Lambda's has
        assert (os.environ["AWS_REGION"], os.environ["AWS_DEFAULT_REGION"]) == (REGION, REGION)
        dynamodb = boto3.client("dynamodb")
        table = dynamodb.describe_table(TableName=env["ITEMS_TABLE"])["Table"]
        assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
        assert [index["IndexName"] for index in table["GlobalSecondaryIndexes"]] == ["byOwner"]
        assert (
            env["ITEMS_TABLE_ARN"] == table["TableArn"] == f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/ProdItemsTable"
        )
        dynamodb.put_item(TableName=env["ITEMS_TABLE"], Item={"id": {"S": "1"}})
        assert dynamodb.get_item(TableName=env["ITEMS_TABLE"], Key={"id": {"S": "1"}})["Item"] == {"id": {"S": "1"}}
        sqs = boto3.client("sqs")
        attributes = sqs.get_queue_attributes(QueueUrl=env["JOBS_URL"], AttributeNames=["All"])["Attributes"]
        assert (attributes["FifoQueue"], attributes["VisibilityTimeout"]) == ("true", "90")
        assert attributes["QueueArn"] == env["JOBS_ARN"] and env["JOBS_URL"].endswith("/ProdJobsQueue.fifo")
        s3 = boto3.client("s3")
        assert s3.get_bucket_location(Bucket=env["UPLOADS"])["LocationConstraint"] == REGION
        assert env["UPLOADS"] == "produploads"  # bucket names are lower case
        secret = json.loads(
            boto3.client("secretsmanager").get_secret_value(SecretId=env["API_KEY_ARN"])["SecretString"]
        )
        assert secret["user"] == "api" and len(secret["password"]) == len(secrets.token_urlsafe(40))
        assert boto3.client("ssm").get_parameter(Name=env["FLAG"])["Parameter"]["Value"] == "on"
        assert (env["GREETING"], env["HOME_REGION"]) == ("hello", REGION)


def test_the_environment_is_as_it_was_afterwards() -> None:
    before = dict(os.environ)
    with offline_aws({"FLAG": {"Ref": "ProdFlag"}}, RESOURCES, REGION):
        assert os.environ["FLAG"] == "ProdFlag"
    assert dict(os.environ) == before


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ({"Ref": "Elsewhere"}, "not in the template"),
        ({"Fn::GetAtt": ["ProdItemsTable", "StreamArn"]}, "an attribute the local table lacks"),
        ({"Fn::Join": ["", ["a", "b"]]}, "an intrinsic other than Ref and Fn::GetAtt"),
        ({"Fn::ImportValue": "Shared"}, "another stack's export"),
        (7, "a number"),
    ],
)
def test_a_variable_that_cannot_be_resolved_is_one_line_naming_it(value: object, why: str) -> None:
    with pytest.raises(OfflineError) as raised, offline_aws({"GREETING": "hi", "ODD": value}, RESOURCES, REGION):
        pass
    assert str(raised.value) == (
        f"environment variable ODD = {json.dumps(value)} cannot be resolved offline: it must be a string, or a Ref "
        "or Fn::GetAtt of one of the stack's DynamoDB::GlobalTable, DynamoDB::Table, S3::Bucket, SQS::Queue, "
        "SSM::Parameter, SecretsManager::Secret"
    ), why


def test_a_resource_without_an_offline_twin_is_one_line_naming_it() -> None:
    resources = {"ProdKey": {"Type": "AWS::KMS::Key", "Properties": {}}}
    with pytest.raises(OfflineError, match=r"^ProdKey \(AWS::KMS::Key\) is named by the function's environment"):
        offline_aws({"KEY": {"Ref": "ProdKey"}}, resources, REGION).__enter__()


def test_without_resources_nothing_is_mocked_and_nothing_real_is_reachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "moto", raising=False)
    with offline_aws({"GREETING": "hi"}, RESOURCES, REGION) as env:
        assert env == {"GREETING": "hi"}
        assert "moto" not in sys.modules  # the shipped stack pays nothing for the offline AWS
        assert {name: os.environ[name] for name in CREDENTIALS} == CREDENTIALS
        assert os.environ["AWS_ENDPOINT_URL"] == UNREACHABLE
        started = time.perf_counter()
        with pytest.raises(EndpointConnectionError):
            boto3.client("sts", config=Config(retries={"mode": "standard"})).get_caller_identity()
        assert time.perf_counter() - started < 0.5  # one attempt, no backoff


def test_resolving_needs_no_resources_for_literals_and_pseudo_parameters() -> None:
    assert resolve({"A": "x", "P": {"Ref": "AWS::Partition"}, "I": {"Ref": "AWS::AccountId"}}, {}, REGION) == {
        "A": "x",
        "P": "aws",
        "I": ACCOUNT,
    }


def test_each_definitions_other_shapes_are_made_as_written() -> None:
    """The alternatives of each definition: names the template sets, a literal secret, a plain generated one, a
    StringList parameter, a standard queue, a bucket in us-east-1 (which takes no location constraint)."""
    resources: dict[str, Any] = {
        "ProdNamedTable": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": "named-table",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                "AttributeDefinitions": [
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "N"},
                    {"AttributeName": "at", "AttributeType": "S"},
                ],
                "LocalSecondaryIndexes": [
                    {
                        "IndexName": "byTime",
                        "KeySchema": [
                            {"AttributeName": "pk", "KeyType": "HASH"},
                            {"AttributeName": "at", "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "KEYS_ONLY"},
                    }
                ],
            },
        },
        "ProdPlainQueue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "plain", "DelaySeconds": 5}},
        "ProdDedupQueue": {"Type": "AWS::SQS::Queue",
                           "Properties": {"FifoQueue": True, "ContentBasedDeduplication": True}},
        "ProdNamedBucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "named-bucket"}},
        "ProdLiteral": {"Type": "AWS::SecretsManager::Secret", "Properties": {"Name": "lit", "SecretString": "v4lue"}},
        "ProdPlain": {"Type": "AWS::SecretsManager::Secret",
                      "Properties": {"GenerateSecretString": {"PasswordLength": 20}}},
        "ProdList": {"Type": "AWS::SSM::Parameter",
                     "Properties": {"Name": "/p/list", "Type": "StringList", "Value": "a,b"}},
        "ProdUntyped": {"Type": "AWS::SSM::Parameter", "Properties": {"Value": "v"}},
    }  # fmt: skip
    variables = {
        "TABLE": {"Ref": "ProdNamedTable"},
        "PLAIN": {"Fn::GetAtt": ["ProdPlainQueue", "QueueName"]},
        "DEDUP": {"Ref": "ProdDedupQueue"},
        "BUCKET": {"Fn::GetAtt": ["ProdNamedBucket", "Arn"]},
        "LITERAL": {"Ref": "ProdLiteral"},
        "GENERATED": {"Ref": "ProdPlain"},
        "LIST": {"Ref": "ProdList"},
        "LIST_TYPE": {"Fn::GetAtt": ["ProdList", "Type"]},
        "UNTYPED": {"Ref": "ProdUntyped"},
        "LITERAL_NAME": {"Fn::GetAtt": ["ProdLiteral", "Id"]},
        "SUFFIX": {"Ref": "AWS::URLSuffix"},
    }
    with offline_aws(variables, resources, "us-east-1") as env:
        table = boto3.client("dynamodb").describe_table(TableName=env["TABLE"])["Table"]
        assert (env["TABLE"], [k["KeyType"] for k in table["KeySchema"]]) == ("named-table", ["HASH", "RANGE"])
        assert [index["IndexName"] for index in table["LocalSecondaryIndexes"]] == ["byTime"]
        assert (env["PLAIN"], env["LIST"], env["UNTYPED"]) == ("plain", "/p/list", "ProdUntyped")  # as named
        sqs = boto3.client("sqs")
        plain_url = sqs.get_queue_url(QueueName=env["PLAIN"])["QueueUrl"]
        assert sqs.get_queue_attributes(QueueUrl=plain_url, AttributeNames=["DelaySeconds"])["Attributes"] == {
            "DelaySeconds": "5"
        }
        dedup = sqs.get_queue_attributes(QueueUrl=env["DEDUP"], AttributeNames=["ContentBasedDeduplication"])
        assert dedup["Attributes"]["ContentBasedDeduplication"] == "true" and env["DEDUP"].endswith(".fifo")
        assert env["BUCKET"] == "arn:aws:s3:::named-bucket"
        assert boto3.client("s3").get_bucket_location(Bucket="named-bucket")["LocationConstraint"] is None
        manager = boto3.client("secretsmanager")
        assert manager.get_secret_value(SecretId=env["LITERAL"])["SecretString"] == "v4lue"
        generated = manager.get_secret_value(SecretId=env["GENERATED"])["SecretString"]
        assert len(generated) == len(secrets.token_urlsafe(20)) and not generated.startswith("{")  # no JSON template
        assert ":secret:lit-" in env["LITERAL"] and env["LITERAL_NAME"] == env["LITERAL"]  # named as written
        parameter = boto3.client("ssm").get_parameter(Name=env["LIST"])["Parameter"]
        assert (parameter["Type"], parameter["Value"]) == ("StringList", "a,b") == (env["LIST_TYPE"], "a,b")
        assert boto3.client("ssm").get_parameter(Name="ProdUntyped")["Parameter"]["Type"] == "String"
        assert env["SUFFIX"] == "amazonaws.com"


def test_every_attribute_a_variable_may_name_is_the_local_resources() -> None:
    """Fn::GetAtt of each attribute the offline twins give (CloudFormation's return values for each type)."""
    long_id = "Prod" + "Bucket" * 11  # a logical id over S3's 63 characters
    resources: dict[str, Any] = {
        "ProdStandard": {"Type": "AWS::SQS::Queue", "Properties": {"MaximumMessageSize": 2048}},
        long_id: {"Type": "AWS::S3::Bucket", "Properties": {}},
        "ProdFlag": {"Type": "AWS::SSM::Parameter", "Properties": {"Value": "on"}},
        "ProdDefault": {"Type": "AWS::SecretsManager::Secret", "Properties": {"GenerateSecretString": {}}},
        "ProdTemplated": {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {"GenerateSecretString": {"SecretStringTemplate": '{"user": "u"}'}},
        },
    }
    variables = {
        "QUEUE_URL": {"Fn::GetAtt": ["ProdStandard", "QueueUrl"]},
        "QUEUE_NAME": {"Fn::GetAtt": ["ProdStandard", "QueueName"]},
        "BUCKET": {"Ref": long_id},
        "BUCKET_DOMAIN": {"Fn::GetAtt": [long_id, "DomainName"]},
        "FLAG_TYPE": {"Fn::GetAtt": ["ProdFlag", "Type"]},
        "FLAG_VALUE": {"Fn::GetAtt": ["ProdFlag", "Value"]},
        "DEFAULT": {"Ref": "ProdDefault"},
        "TEMPLATED": {"Ref": "ProdTemplated"},
    }
    with offline_aws(variables, resources, REGION) as env:
        assert env["QUEUE_NAME"] == "ProdStandard" and env["QUEUE_URL"].endswith("/ProdStandard")  # no .fifo
        attributes = boto3.client("sqs").get_queue_attributes(QueueUrl=env["QUEUE_URL"], AttributeNames=["All"])
        assert attributes["Attributes"]["MaximumMessageSize"] == "2048"
        assert env["BUCKET"] == long_id.lower()[:63] and env["BUCKET_DOMAIN"] == f"{env['BUCKET']}.s3.amazonaws.com"
        assert (env["FLAG_TYPE"], env["FLAG_VALUE"]) == ("String", "on")
        manager = boto3.client("secretsmanager")
        assert len(manager.get_secret_value(SecretId=env["DEFAULT"])["SecretString"]) == len(secrets.token_urlsafe(32))
        # A template without the key to generate into: the plain password, as CloudFormation needs both.
        assert not manager.get_secret_value(SecretId=env["TEMPLATED"])["SecretString"].startswith("{")
