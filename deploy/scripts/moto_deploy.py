#!/usr/bin/env python3
"""Deploys the data plane of the synthesized stack (DynamoDB tables, S3 buckets, the Secrets
Manager secret) into a local moto_server through its CloudFormation API, and prints the
physical names as JSON. tests/deploy.rs then runs the real server against them.

    moto_deploy.py TEMPLATE ENDPOINT

Only the data-plane resource types are deployed: the rest (VPC, ECS, ALB, Cognito with
threat protection, WAF, ...) cannot run in moto, and the server never calls it. Every Ref or
GetAtt inside the selection must resolve within it, otherwise this fails naming the
reference, so a data-plane resource that starts to depend on something else is noticed.
"""

import json
import os
import sys
import time

import boto3

DATA_PLANE = ("AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::SecretsManager::Secret")
# moto's CloudFormation accepts this type but creates nothing (moto 5.x): such secrets are
# created through the Secrets Manager API instead, from the template's own properties.
NOT_IN_MOTO_CFN = ("AWS::SecretsManager::Secret",)


def references(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "Ref":
                yield v
            elif k == "Fn::GetAtt":
                yield v[0] if isinstance(v, list) else v.split(".")[0]
            else:
                yield from references(v)
    elif isinstance(node, list):
        for v in node:
            yield from references(v)


def main():
    template_path, endpoint = sys.argv[1], sys.argv[2]
    with open(template_path) as f:
        template = json.load(f)
    selected = {
        name: res
        for name, res in template["Resources"].items()
        if res["Type"] in DATA_PLANE
    }
    for name, res in selected.items():
        for ref in references(res.get("Properties", {})):
            if ref not in selected and not ref.startswith("AWS::"):
                sys.exit(f"{name} references {ref}, which is not part of the data plane")
        # Deletion/update policies and CDK metadata mean nothing to moto.
        for k in ("Metadata", "UpdateReplacePolicy", "DeletionPolicy"):
            res.pop(k, None)
    if not selected:
        sys.exit(f"{template_path}: no data-plane resources")
    secrets = {n: r for n, r in selected.items() if r["Type"] in NOT_IN_MOTO_CFN}
    stacked = {n: r for n, r in selected.items() if n not in secrets}
    body = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": stacked}
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    cfn = boto3.client("cloudformation", endpoint_url=endpoint, region_name=region)
    cfn.create_stack(StackName="mcp-prompts-data-plane", TemplateBody=json.dumps(body))
    deadline = time.time() + 60
    while True:
        stack = cfn.describe_stacks(StackName="mcp-prompts-data-plane")["Stacks"][0]
        status = stack["StackStatus"]
        if status == "CREATE_COMPLETE":
            break
        if not status.endswith("IN_PROGRESS") or time.time() > deadline:
            events = cfn.describe_stack_events(StackName="mcp-prompts-data-plane")["StackEvents"]
            reasons = [e.get("ResourceStatusReason") for e in events if e.get("ResourceStatusReason")]
            sys.exit(f"stack {status}: {reasons}")
        time.sleep(0.2)
    physical = {
        r["LogicalResourceId"]: (r["ResourceType"], r["PhysicalResourceId"])
        for r in cfn.list_stack_resources(StackName="mcp-prompts-data-plane")["StackResourceSummaries"]
    }
    out = {"tables": [], "buckets": [], "secrets": [], "moto_ignored": []}
    for logical, (kind, pid) in sorted(physical.items()):
        out["tables" if kind == "AWS::DynamoDB::Table" else "buckets"].append(pid)
    # Properties moto's CloudFormation does not apply, reported rather than hidden.
    ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name=region)
    for logical, res in stacked.items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::DynamoDB::Table" and "TimeToLiveSpecification" in props:
            ttl = ddb.describe_time_to_live(TableName=physical[logical][1])["TimeToLiveDescription"]
            if ttl.get("AttributeName") != props["TimeToLiveSpecification"]["AttributeName"]:
                out["moto_ignored"].append(f"{logical}: TimeToLiveSpecification")
        if res["Type"] == "AWS::DynamoDB::Table" and "PointInTimeRecoverySpecification" in props:
            out["moto_ignored"].append(f"{logical}: PointInTimeRecoverySpecification (not checked)")
    sm = boto3.client("secretsmanager", endpoint_url=endpoint, region_name=region)
    for logical, res in secrets.items():
        props = res["Properties"]
        gen = props.get("GenerateSecretString")
        if gen is None or "GenerateStringKey" not in gen:
            sys.exit(f"{logical}: expected GenerateSecretString with GenerateStringKey")
        value = json.loads(gen.get("SecretStringTemplate", "{}"))
        length = int(gen.get("PasswordLength", 32))
        value[gen["GenerateStringKey"]] = sm.get_random_password(
            PasswordLength=length, ExcludePunctuation=bool(gen.get("ExcludePunctuation"))
        )["RandomPassword"]
        sm.create_secret(Name=props["Name"], SecretString=json.dumps(value))
        out["secrets"].append(props["Name"])
        out["moto_ignored"].append(f"{logical}: created through the Secrets Manager API")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
