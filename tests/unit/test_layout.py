"""The collection's layout rules that code review would otherwise have to catch."""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_no_playbook_role_or_plugin_builds_a_state_path():
    # The instance's own status document (status.json) is not stack state.
    pattern = re.compile(r"(?<!status)\.json['\"]|\.lock['\"]|recovery\.md['\"]|lookup\(['\"]ansible\.builtin\.file")
    found = []
    for top in ("plugins", "playbooks", "roles"):
        for folder, _unused, names in os.walk(os.path.join(ROOT, top)):
            for name in names:
                path = os.path.join(folder, name)
                if path.endswith("state_store.py") or not name.endswith((".py", ".yml", ".j2")):
                    continue
                with open(path, encoding="utf-8") as handle:
                    found += ["{0}: {1}".format(os.path.relpath(path, ROOT), line.strip())
                              for line in handle if pattern.search(line)]
    assert found == []
