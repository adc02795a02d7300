"""Prints, as JSON, everything in AWS that still carries a stack's mark, whatever its kind: the Resource Groups
Tagging API (EC2, EFS and every other tagged service; terminated instances left out), plus IAM roles and
instance profiles under /geusemaker/ and SSM parameters under /geusemaker/<stack>/, which it does not list.

    leftovers.py STACK_NAME REGION

It reads AWS with boto3 alone, independently of the collection's registry of kinds, so a resource of a kind the
collection forgot to register is found too.
"""

import json
import sys

import boto3


def main(stack, region):
    session = boto3.session.Session(region_name=region)
    found = []
    tagging = session.client("resourcegroupstaggingapi")
    arns = [
        item["ResourceARN"]
        for page in tagging.get_paginator("get_resources").paginate(TagFilters=[{"Key": "geusemaker:stack", "Values": [stack]}])
        for item in page["ResourceTagMappingList"]
    ]
    instance_ids = [arn.rsplit("/", 1)[1] for arn in arns if ":instance/" in arn]
    live = set()
    if instance_ids:
        ec2 = session.client("ec2")
        for reservation in ec2.describe_instances(InstanceIds=instance_ids)["Reservations"]:
            live.update(i["InstanceId"] for i in reservation["Instances"] if i["State"]["Name"] != "terminated")
    found += [arn for arn in arns if ":instance/" not in arn or arn.rsplit("/", 1)[1] in live]
    iam = session.client("iam")
    name = "geusemaker-{0}-{1}".format(stack, region)
    found += [r["Arn"] for r in iam.list_roles(PathPrefix="/geusemaker/")["Roles"] if r["RoleName"] == name]
    found += [p["Arn"] for p in iam.list_instance_profiles(PathPrefix="/geusemaker/")["InstanceProfiles"]
              if p["InstanceProfileName"] == name]
    ssm = session.client("ssm")
    found += [p["Name"] for p in ssm.get_parameters_by_path(Path="/geusemaker/{0}/".format(stack), Recursive=True)["Parameters"]]
    print(json.dumps(sorted(found)))


if __name__ == "__main__":
    main(*sys.argv[1:3])
