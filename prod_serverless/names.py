"""Which template properties carry a physical name, and the names the stack sets: docs/architecture.md lists them
(`make docs`) and tests/infra/test_stack.py checks each carries the Prod prefix. Pure data: no CDK import."""

from __future__ import annotations

from typing import Any

# Properties that carry a physical name, by resource type (CloudFormation generates one when they are unset).
NAME_PROPERTIES = {
    "AWS::Lambda::Function": ["FunctionName"],
    "AWS::Lambda::Alias": ["Name"],
    "AWS::Logs::LogGroup": ["LogGroupName"],
    "AWS::Logs::LogStream": ["LogStreamName"],
    "AWS::Logs::SubscriptionFilter": ["FilterName"],
    "AWS::S3::Bucket": ["BucketName"],
    "AWS::KMS::Alias": ["AliasName"],
    "AWS::SNS::Topic": ["TopicName"],
    "AWS::IAM::Role": ["RoleName"],
    "AWS::IAM::Policy": ["PolicyName"],
    "AWS::IAM::ManagedPolicy": ["ManagedPolicyName"],
    "AWS::KinesisFirehose::DeliveryStream": ["DeliveryStreamName"],
    "AWS::CloudWatch::Alarm": ["AlarmName"],
    "AWS::CloudWatch::CompositeAlarm": ["AlarmName"],
    "AWS::CloudWatch::Dashboard": ["DashboardName"],
    "AWS::ApiGatewayV2::Api": ["Name"],
    "AWS::Athena::WorkGroup": ["Name"],
    "AWS::Glue::Database": ["DatabaseInput.Name"],
    "AWS::Glue::Table": ["TableInput.Name"],
}


def lookup(properties: dict[str, Any], dotted: str) -> Any:
    """`properties["A"]["B"]` for "A.B"; None where any part is missing."""
    value: Any = properties
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def shown(value: Any) -> str:
    """A name as text: a literal as it is, a reference as `<Ref …>`, a joined name with its references inline."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(shown(part) for part in parts)
    if isinstance(value, dict) and "Ref" in value:
        return f"<{value['Ref']}>"
    if isinstance(value, dict) and "Fn::Select" in value:
        return "<the stack id's UUID>" if "AWS::StackId" in str(value) else "<selected>"
    return "<computed>"


def physical_names(template: dict[str, Any]) -> list[tuple[str, str, str, Any]]:
    """(logical id, resource type, property, value) of every physical name the template sets, in template order."""
    return [
        (logical_id, resource["Type"], dotted, value)
        for logical_id, resource in template["Resources"].items()
        for dotted in NAME_PROPERTIES.get(resource["Type"], [])
        if (value := lookup(resource.get("Properties", {}), dotted)) is not None
    ]


# A worker's construct id, the prefix of its logical ids (prod_serverless/workers.py), and the metadata key its function
# carries: make cost and make invoke find a worker in the template by these, without importing the CDK.
WORKER_METADATA = "prod:worker"


def worker_construct_id(name: str) -> str:
    """A worker's construct id: `nightly` -> `ProdNightlyWorker`."""
    return f"Prod{name.capitalize()}Worker"


PRODUCTION = "prod"  # the stage whose stack and names are the ones this project has always had
# AWS KMS "ScheduleKeyDeletion": PendingWindowInDays is 7 to 30 (30 when unset); another stage's keys take the
# shortest, so whatever a key pending deletion costs, a destroyed stage's last a week.
KEY_PENDING_DAYS = 7


class StageNames:
    """The names a copy of the stack sets, derived from its stage: production keeps its own; another stage (a
    staging copy, a developer's, a pull request's) gets its own stack and its own names, unique per account and
    Region, each still starting with Prod. Logical ids never change: they are per stack."""

    __slots__ = ("stage",)

    def __init__(self, stage: str = PRODUCTION) -> None:
        self.stage = stage

    @property
    def production(self) -> bool:
        return self.stage == PRODUCTION

    @property
    def stack(self) -> str:
        """CloudFormation's stack name: letters, digits and hyphens (CloudFormation "CreateStack" StackName)."""
        return "ProdServerlessStack" if self.production else f"ProdServerlessStack-{self.stage}"

    @property
    def prefix(self) -> str:
        return "ProdServerless" if self.production else f"ProdServerless{self.stage.capitalize()}"

    @property
    def database(self) -> str:
        """The Glue database: lower case, digits and underscores (Athena's naming rules for databases)."""
        return "prod_serverless_logs" if self.production else f"prod_serverless_{self.stage}_logs"

    @property
    def workgroup(self) -> str:
        return f"{self.prefix}Logs"

    @property
    def api(self) -> str:
        return f"{self.prefix}Api"

    def alias(self, name: str) -> str:
        """A KMS alias: `alias/ProdServerless/<name>` in production, `alias/ProdServerless-<stage>/<name>` else."""
        return f"alias/ProdServerless/{name}" if self.production else f"alias/ProdServerless-{self.stage}/{name}"

    @property
    def template(self) -> str:
        """Where `make synth` writes the stack's template."""
        return f"cdk.out/{self.stack}.template.json"
