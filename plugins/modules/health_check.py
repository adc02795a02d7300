#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: health_check
short_description: Wait until the stack's services answer through its HTTPS endpoint
version_added: 0.1.0
description:
  - Polls the boot status document C(<url>/geusemaker/status.json) that the instance's UserData keeps up to date
    (schema in plugins/module_utils/health.py), and each service through nginx (n8n C(/healthz), Ollama
    C(/ollama/), Qdrant C(/qdrant/healthz), Crawl4AI C(/crawl4ai/health); PostgreSQL only through the status
    document), until all are healthy or O(timeout).
  - By default it probes the stack's own instance, and only it. The instance is the one the ledger of O(stack_name)
    records, read fresh from EC2, and only if its own C(geusemaker:stack) tag names the stack; anything else fails
    with RV(error_code) C(NotOwned) before any probe. Its address (public name, else IP) comes from EC2, not from
    the state.
  - The connection must present the public key the instance published on its tag C(geusemaker:tls-spki-sha256)
    (its boot script writes it early in the install stage; the instance role may set that one tag and nothing
    else). HTTPS only, and no redirect is followed.
  - Once the key matches, the probes authenticate as nginx requires. The module reads C(proxy_password) (HTTP
    basic auth, user C(geusemaker), for Ollama and Crawl4AI) and C(qdrant_api_key) (the C(api-key) header) under
    C(/geusemaker/<stack_name>/) from SSM Parameter Store itself, decrypted; it keeps them in memory only and never
    returns or logs them. Until the key is published the probes carry no credential.
  - With O(url), it probes that URL instead, without any credential (services behind nginx answer 401 and stay
    unhealthy unless O(services) leaves them out).
  - Reports C(healthy); C(degraded) when the timeout passed with some service not healthy (with
    RV(resource_type), RV(error_code) C(ServicesUnhealthy) and RV(msg), for the failure record); or
    C(boot_failed) at once when the instance reports a failed boot stage (C(<stage>_failed)), whatever the timeout.
  - A failed boot fails the task unless O(fail_on_boot_failure=false), with RV(resource_type) C(file_system) and
    RV(error_code) C(EfsMountFailed) for the efs stage, C(volume) and C(VolumeMountFailed) for the volume stage,
    C(instance) and C(BootFailed) for any other, a message naming the stage and where to read the boot log, and
    RV(status_document).
options:
  url:
    description:
      - Probe this base URL, such as C(https://203.0.113.10), instead of the stack's instance, and send no
        credential to it.
    type: str
  connect_to:
    description:
      - Open the TCP connection to this C(host:port) instead of the instance's address, such as the local end of an
        SSM port-forwarding session or an SSH tunnel when the controller cannot reach the instance directly.
      - The TLS name and the pinned key stay the instance's, so a server there with any other key gets nothing.
    type: str
  timeout:
    description: Seconds to wait for every service to be healthy.
    type: int
    default: 900
  interval:
    description: Seconds between two rounds of probes.
    type: float
    default: 5
  services:
    description: Services that must be healthy.
    type: list
    elements: str
    choices: [n8n, ollama, qdrant, crawl4ai, postgres]
    default: [n8n, ollama, qdrant, crawl4ai, postgres]
  validate_certs:
    description:
      - With O(url), verify its TLS certificate against the system's CAs. Off by default, as the instance's
        certificate is self-signed. The stack's own instance is always checked by its pinned key instead.
    type: bool
    default: false
  fail_on_boot_failure:
    description: Fail when the instance reports a failed boot stage; with false, return RV(health=boot_failed).
    type: bool
    default: true
notes:
  - Supports check mode, where it reads and probes nothing and returns C(health=skipped).
  - With O(lock_token), the wait keeps the run's lock alive (it can last O(timeout) seconds), and stops when another
    run took the lock or the run is gone.
author:
  - GeuseMaker developers (@michael-pittman)
extends_documentation_fragment:
  - geusemaker.stack.stack
  - geusemaker.stack.state
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Wait for the services of the stack's own instance
  geusemaker.stack.health_check:
    stack_name: demo
    timeout: 900
  register: services_health

- name: The same through an SSM port forward to the instance's 443 on localhost:8443
  geusemaker.stack.health_check:
    stack_name: demo
    connect_to: 127.0.0.1:8443

- name: Record a degraded stack
  geusemaker.stack.stack_state:
    stack_name: demo
    status: degraded
    failure:
      task: Check the services
      resource_type: "{{ services_health.resource_type }}"
      error_code: "{{ services_health.error_code }}"
      error_message: "{{ services_health.msg }}"
      critical: false
  when: services_health.health == 'degraded'
"""

RETURN = r"""
health:
  description: C(healthy), C(degraded), C(boot_failed) (with O(fail_on_boot_failure=false)), or C(skipped) in check mode.
  returned: always
  type: str
  sample: healthy
status_document:
  description: >-
    The last status document read (schema, stage, boot_id, boot_count, address, gpu, volume, efs, services, updated_at),
    or null if none was read.
  returned: always
  type: dict
services:
  description: >-
    Per service, C(healthy), or what the status document says (C(starting), C(failed)), or C(unreachable).
  returned: always
  type: dict
  sample: {n8n: healthy, ollama: healthy, qdrant: healthy, crawl4ai: starting, postgres: healthy}
elapsed:
  description: Seconds spent polling.
  returned: always
  type: float
stage:
  description: The boot stage the instance reports as failed, such as C(efs) or C(secrets).
  returned: when the boot failed
  type: str
resource_type:
  description: What failed - C(file_system), C(volume) or C(instance) for a failed boot, C(instance) when degraded.
  returned: when the boot failed or the stack is degraded
  type: str
error_code:
  description: C(EfsMountFailed), C(VolumeMountFailed), C(BootFailed), or C(ServicesUnhealthy) when degraded.
  returned: when the boot failed or the stack is degraded
  type: str
msg:
  description: What failed; for a failed boot, the stage, the mount's detail and where to read the boot log.
  returned: when the boot failed or the stack is degraded
  type: str
instance_id:
  description: The stack's instance that was probed.
  returned: unless O(url) was given
  type: str
address:
  description: The public name (else IP) of that instance, as EC2 gave it at the start of the wait.
  returned: unless O(url) was given
  type: str
"""

from ansible_collections.geusemaker.stack.plugins.module_utils import health
from ansible_collections.geusemaker.stack.plugins.module_utils.instance import described_instances
from ansible_collections.geusemaker.stack.plugins.module_utils.ownership import ssm_path
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import StackModule


def stack_instance(stack, connect_to):
    """The ledger's instance, only if EC2 says it is the stack's (health.StackInstance)."""
    ids = [entry["id"] for entry in stack.ledger.entries("instance", provenances=("created", "adopted"), statuses=("present",))]

    def describe(wanted):
        with stack.aws_call("cannot read instance(s) {0}".format(", ".join(wanted)), "instance", wanted[0], action="find"):
            return described_instances(stack.clients.ec2, Filters=[{"Name": "instance-id", "Values": wanted}])

    try:
        return health.StackInstance(describe, ids, stack.stack_name, connect_to)
    except health.NotTheStacksInstance as e:
        stack.fail(str(e), resource_type="instance", resource_id=ids[0] if ids else None, error_code="NotOwned")


def credentials(stack):
    """The probes' credentials, under the stack's own path (never one read from the state), kept in memory and
    masked in anything the module prints."""
    path = ssm_path(stack.stack_name)
    try:
        with stack.aws_call("cannot read the probes' credentials under {0}".format(path), "ssm_parameter", path, action="find"):
            values = health.read_credentials(stack.clients.ssm, path, aws_retry=True)
    except health.CredentialsError as e:
        stack.fail("cannot authenticate the probes: {0}".format(e), resource_type="ssm_parameter", error_code="ParameterNotFound")
    stack.module.no_log_values.update(values.values())
    return values


def main():
    stack = StackModule(
        argument_spec=dict(
            url=dict(type="str"),
            connect_to=dict(type="str"),
            timeout=dict(type="int", default=900),
            interval=dict(type="float", default=5),
            services=dict(type="list", elements="str", choices=list(health.SERVICES), default=list(health.SERVICES)),
            validate_certs=dict(type="bool", default=False),
            fail_on_boot_failure=dict(type="bool", default=True),
        ),
        mutually_exclusive=[("url", "connect_to")],
    )
    params = stack.module.params
    if params["url"] and not params["url"].startswith(("http://", "https://")):
        stack.fail("url must start with http:// or https://, not {0!r}".format(params["url"]))
    connect_to = None
    if params["connect_to"]:
        try:
            connect_to = health.parse_connect_to(params["connect_to"])
        except ValueError as e:
            stack.fail(str(e))
    if params["timeout"] < 0:
        stack.fail("timeout must be 0 or more")
    if params["interval"] <= 0:
        stack.fail("interval must be more than 0")
    if stack.module.check_mode:
        stack.exit(health="skipped", status_document=None, services={}, elapsed=0)
    options = dict(timeout=params["timeout"], interval=params["interval"], heartbeat=stack.heartbeat)
    if params["url"]:
        result = health.check(params["url"], params["services"], validate_certs=params["validate_certs"], **options)
    else:
        target = stack_instance(stack, connect_to)
        result = health.check(target.url, params["services"], get=target.get, credentials=credentials(stack),
                              problem=lambda: target.problem, **options)
        result.update(instance_id=target.instance_id, address=target.address)
    if result["health"] == "boot_failed" and params["fail_on_boot_failure"]:
        stack.fail(changed=False, **result)
    stack.exit(**result)


if __name__ == "__main__":
    main()
