#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: GeuseMaker developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: health_check
short_description: Wait until the stack's services answer through its HTTPS endpoint
version_added: 0.1.0
description:
  - Polls the boot status document C(<url>/geusemaker/status.json) that the instance's UserData keeps up to date,
    and each service through nginx (n8n C(/healthz), Ollama C(/ollama/), Qdrant C(/qdrant/healthz), Crawl4AI
    C(/crawl4ai/health); PostgreSQL only through the status document), until all are healthy or O(timeout).
  - Reports C(healthy), C(degraded) (the timeout passed with some service not healthy), or C(efs_mount_failed)
    (the instance reports that it could not mount the file system; returned at once).
  - Fails when the instance reports that its boot failed (O(fail_on_boot_failure)), with C(resource_type) and
    C(error_code). Services still unhealthy at the timeout are C(degraded), which does not fail the module; its
    result then carries C(resource_type), C(error_code) (C(ServicesUnhealthy)) and C(msg) for the failure record.
  - Makes no AWS call.
options:
  fail_on_boot_failure:
    description: Fail at once when the instance reports a failed boot (EFS not mounted).
    type: bool
    default: true
  url:
    description: Base URL of the stack, such as C(https://203.0.113.10).
    type: str
    required: true
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
notes:
  - Supports check mode, where it probes nothing and returns C(health=skipped).
author:
  - GeuseMaker developers (@michael-pittman)
"""

EXAMPLES = r"""
- name: Wait for the services
  geusemaker.stack.health_check:
    url: "https://{{ compute_instance.instances[0].public_ip }}"
    timeout: 900
  register: services_health

- name: Stop on a failed EFS mount
  ansible.builtin.fail:
    msg: "{{ services_health.status_document.efs.detail }}"
  when: services_health.health == 'efs_mount_failed'
"""

RETURN = r"""
health:
  description: C(healthy), C(degraded), C(efs_mount_failed), or C(skipped) in check mode.
  returned: always
  type: str
  sample: healthy
status_document:
  description: The last status document read (schema, stage, efs, services, updated_at), or null if none was read.
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
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.geusemaker.stack.plugins.module_utils import health


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            timeout=dict(type="int", default=900),
            interval=dict(type="float", default=5),
            services=dict(type="list", elements="str", choices=list(health.SERVICES), default=list(health.SERVICES)),
            validate_certs=dict(type="bool", default=False),
            fail_on_boot_failure=dict(type="bool", default=True),
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
    result = health.check(params["url"], params["services"], params["timeout"], params["interval"], params["validate_certs"])
    if result["health"] == "efs_mount_failed" and params["fail_on_boot_failure"]:
        detail = ((result["status_document"] or {}).get("efs") or {}).get("detail") or "no detail"
        module.fail_json(msg="the instance reports that the EFS mount failed: {0}".format(detail),
                         resource_type="file_system", error_code="EfsMountFailed", **result)
    if result["health"] == "degraded":
        result.update(resource_type="instance", error_code="ServicesUnhealthy",
                      msg="the services were not all healthy within {0}s: {1}".format(params["timeout"], ", ".join(
                          "{0} {1}".format(name, state) for name, state in sorted(result["services"].items()) if state != "healthy")))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
