"""What an administrator does once per account before the first deploy, done on the local emulator for the demo and
the gates: create the permissions boundary that every stack role is created with (docs/iam/instance-boundary.json,
as policy /geusemaker/geusemaker-instance-boundary). On a real account, run instead:

    aws iam create-policy --path /geusemaker/ --policy-name geusemaker-instance-boundary \\
        --policy-document file://docs/iam/instance-boundary.json

Usage: python scripts/admin-setup.py ENDPOINT_URL   (dummy credentials; it refuses any endpoint but loopback)
"""

import os
import sys
from urllib.parse import urlsplit

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def create_boundary(endpoint):
    if urlsplit(endpoint).hostname not in ("127.0.0.1", "localhost"):
        raise SystemExit("admin-setup.py works only on the local emulator (got {0})".format(endpoint))
    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=endpoint, aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    with open(os.path.join(ROOT, "docs", "iam", "instance-boundary.json")) as handle:
        document = handle.read()
    try:
        iam.create_policy(Path="/geusemaker/", PolicyName="geusemaker-instance-boundary", PolicyDocument=document,
                          Description="GeuseMaker: the most any stack role may do (docs/iam/instance-boundary.json)")
    except iam.exceptions.EntityAlreadyExistsException:
        pass


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    create_boundary(sys.argv[1])
    print("admin-setup: the permissions boundary /geusemaker/geusemaker-instance-boundary exists")
