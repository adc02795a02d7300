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
  - The probes authenticate as nginx requires. The module reads C(proxy_password) (HTTP basic auth, user
    C(geusemaker), for Ollama and Crawl4AI) and C(qdrant_api_key) (the C(api-key) header) under
    O(credentials_path) from SSM Parameter Store itself, decrypted; it keeps them in memory only and never returns
    or logs them.
  - Reports C(healthy); C(degraded) when the timeout passed with some service not healthy (with
    RV(resource_type), RV(error_code) C(ServicesUnhealthy) and RV(msg), for the failure record); or
    C(boot_failed) at once when the instance reports a failed boot stage (C(<stage>_failed)), whatever the timeout.
  - A failed boot fails the task unless O(fail_on_boot_failure=false), with RV(resource_type) C(file_system) and
    RV(error_code) C(EfsMountFailed) for the efs stage, C(volume) and C(VolumeMountFailed) for the volume stage,
    C(instance) and C(BootFailed) for any other, a message naming the stage with the boot log's tail, and
    RV(status_document).
options:
  url:
    description: Base URL of the stack, such as C(https://203.0.113.10).
    type: str
    required: true
  credentials_path:
    description:
      - SSM Parameter Store path of the stack's secrets, with the trailing slash, such as C(/geusemaker/demo/).
      - Without it the probes send no credential, and every service but n8n answers 401 through nginx.
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
    description: Verify the TLS certificate; off by default because the instance makes a self-signed one at boot.
    type: bool
    default: false
  fail_on_boot_failure:
    description: Fail when the instance reports a failed boot stage; with false, return RV(health=boot_failed).
    type: bool
    default: true
  stack_name:
    description:
      - The stack whose run holds the lock; with O(lock_token), the wait keeps that lock alive (it can last
        O(timeout) seconds), and stops when another run took the lock or the run is gone.
      - Given by the play's module_defaults for C(group/geusemaker.stack.stack); without it nothing is locked.
    type: str
  tags:
    description: Not used; accepted so that the play's module_defaults for C(group/geusemaker.stack.stack) apply here too.
    type: dict
    default: {}
notes:
  - Supports check mode, where it reads and probes nothing and returns C(health=skipped).
author:
  - GeuseMaker developers (@michael-pittman)
extends_documentation_fragment:
  - geusemaker.stack.state
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Wait for the services
  geusemaker.stack.health_check:
    url: "https://{{ compute_instance.instances[0].public_ip }}"
    credentials_path: /geusemaker/demo/
    timeout: 900
  register: services_health

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
    The last status document read (schema, stage, boot_id, boot_count, volume, efs, services, log_tail, updated_at),
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
  description: What failed; for a failed boot, the stage and the last lines of the boot log.
  returned: when the boot failed or the stack is degraded
  type: str
"""

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports the missing SDK

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.geusemaker.stack.plugins.module_utils import health
from ansible_collections.geusemaker.stack.plugins.module_utils.stack_module import Heartbeat, RunGone, retry_decorator
from ansible_collections.geusemaker.stack.plugins.module_utils.state_store import (
    LOCK_OPTIONS,
    STATE_LOCATION_OPTIONS,
    LockLost,
    StateError,
    open_store,
    state_location,
)


def credentials(module, path):
    """The probes' credentials, kept in memory and masked in anything the module prints."""
    if not path:
        return None
    if not (path.startswith("/") and path.endswith("/")):
        module.fail_json(msg="credentials_path must start and end with '/', not {0!r}".format(path))
    ssm = module.client("ssm", retry_decorator=AWSRetry.jittered_backoff(retries=8, delay=1, max_delay=10))
    try:
        values = health.read_credentials(ssm, path, aws_retry=True)
    except health.CredentialsError as e:
        module.fail_json(msg="cannot authenticate the probes: {0}".format(e), resource_type="ssm_parameter",
                         error_code="ParameterNotFound")
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="cannot read the probes' credentials under {0}".format(path))
    module.no_log_values.update(values.values())
    return values


def heartbeat(module):
    """Keeps the run's lock alive during the wait (see stack_module.Heartbeat); None without a lock."""
    params = module.params
    if not (params["stack_name"] and params["lock_token"]):
        return None
    try:
        store = open_store(state_location(params), lambda: module.client("s3", retry_decorator=retry_decorator()))
    except StateError as e:
        module.fail_json(msg=str(e))
    beat = Heartbeat(store, params["stack_name"], params["lock_token"])

    def call():
        try:
            beat()
        except (LockLost, RunGone) as e:
            module.fail_json(msg=str(e), error_code=type(e).__name__)

    return call


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            credentials_path=dict(type="str"),
            timeout=dict(type="int", default=900),
            interval=dict(type="float", default=5),
            services=dict(type="list", elements="str", choices=list(health.SERVICES), default=list(health.SERVICES)),
            validate_certs=dict(type="bool", default=False),
            fail_on_boot_failure=dict(type="bool", default=True),
            stack_name=dict(type="str"),
            tags=dict(type="dict", default={}),
            **STATE_LOCATION_OPTIONS,
            **LOCK_OPTIONS
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not params["url"].startswith(("http://", "https://")):
        module.fail_json(msg="url must start with http:// or https://, not {0!r}".format(params["url"]))
    if params["timeout"] < 0:
        module.fail_json(msg="timeout must be 0 or more")
    if params["interval"] <= 0:
        module.fail_json(msg="interval must be more than 0")
    if module.check_mode:
        module.exit_json(changed=False, health="skipped", status_document=None, services={}, elapsed=0)
    result = health.check(params["url"], params["services"], params["timeout"], params["interval"],
                          params["validate_certs"], credentials=credentials(module, params["credentials_path"]),
                          heartbeat=heartbeat(module))
    if result["health"] == "boot_failed" and params["fail_on_boot_failure"]:
        module.fail_json(changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
