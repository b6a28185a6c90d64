"""A stage other than production is disposable: `make destroy` removes all of it.

Production keeps its keys, buckets and log groups when the stack is deleted (logs are evidence). Another stage
is a copy for trying things, so an aspect turns every retained resource, whoever declared it (a recipe's table
too), into one CloudFormation deletes with the stack. Its keys are scheduled for deletion after KMS's shortest
waiting period, and its buckets are emptied by `make destroy` before the stack goes (CloudFormation deletes only
an empty bucket), so the template gains no custom resource.
"""

from __future__ import annotations

import jsii
from aws_cdk import CfnDeletionPolicy, CfnResource, IAspect
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import IConstruct

from prod_serverless.names import KEY_PENDING_DAYS

RETAINED = (CfnDeletionPolicy.RETAIN, CfnDeletionPolicy.RETAIN_EXCEPT_ON_CREATE)


@jsii.implements(IAspect)
class Disposable:
    """Deletes with the stack what production keeps: each retained resource, and a table's deletion protection."""

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, CfnResource):
            return
        options = node.cfn_options
        if options.deletion_policy in RETAINED or options.update_replace_policy in RETAINED:
            options.deletion_policy = CfnDeletionPolicy.DELETE
            options.update_replace_policy = CfnDeletionPolicy.DELETE
        if isinstance(node, kms.CfnKey):
            node.pending_window_in_days = KEY_PENDING_DAYS
        if isinstance(node, dynamodb.CfnGlobalTable):  # TableV2: its deletion protection would stop the delete
            node.add_property_override("Replicas.0.DeletionProtectionEnabled", False)
        if isinstance(node, dynamodb.CfnTable):
            node.deletion_protection_enabled = False
