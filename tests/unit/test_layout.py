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
                if os.path.basename(path).startswith("state_store") or not name.endswith((".py", ".yml", ".j2")):
                    continue
                with open(path, encoding="utf-8") as handle:
                    found += ["{0}: {1}".format(os.path.relpath(path, ROOT), line.strip())
                              for line in handle if pattern.search(line)]
    assert found == []


def test_amazon_aws_boto3_and_botocore_are_bounded_to_the_tested_major_version():
    import yaml

    def load(path):
        with open(os.path.join(ROOT, path)) as handle:
            return handle.read()

    def bounded(spec, major):
        return bool(re.search(r"<\s*{0}(\.0)*\b".format(major + 1), spec)) or bool(re.fullmatch(r"{0}\.\d+\.\d+".format(major), spec))

    tested = {"amazon.aws": 10, "boto3": 1, "botocore": 1}
    specs = {
        "galaxy.yml amazon.aws": (yaml.safe_load(load("galaxy.yml"))["dependencies"]["amazon.aws"], "amazon.aws"),
        "collections/requirements.yml amazon.aws": (next(c["version"] for c in yaml.safe_load(load("collections/requirements.yml"))["collections"]
                                                         if c["name"] == "amazon.aws"), "amazon.aws"),
        "execution-environment.yml amazon.aws": (next(
            c["version"] for c in yaml.safe_load(load("execution-environment.yml"))["dependencies"]["galaxy"]["collections"]
            if c["name"] == "amazon.aws"), "amazon.aws"),
    }
    for line in load("requirements.txt").splitlines():
        name = re.match(r"^(boto3|botocore)\b(.*)$", line.strip())
        if name:
            specs["requirements.txt " + name.group(1)] = (name.group(2), name.group(1))
    assert sorted(specs) == ["collections/requirements.yml amazon.aws", "execution-environment.yml amazon.aws",
                             "galaxy.yml amazon.aws", "requirements.txt boto3", "requirements.txt botocore"]
    assert [where for where, (spec, package) in specs.items() if not bounded(str(spec), tested[package])] == []


def test_the_ledger_is_the_state_documents_only_writer():
    # Every change to the document goes through a Ledger, which saves over the version it read with the run's token;
    # a plugin that writes document["..."] itself would save past those rules (issue 21).
    write = re.compile(r"document\s*\[[^\]]+\]\s*(=(?!=)|\+=|-=)|del\s+\S*document\s*\[|document\.(update|setdefault|pop)\(")
    found = []
    for folder, _unused, names in os.walk(os.path.join(ROOT, "plugins")):
        for name in names:
            path = os.path.join(folder, name)
            if not name.endswith(".py") or path.endswith(os.path.join("module_utils", "ledger.py")):
                continue
            with open(path, encoding="utf-8") as handle:
                found += ["{0}:{1}: {2}".format(os.path.relpath(path, ROOT), number, line.strip())
                          for number, line in enumerate(handle, 1) if write.search(line)]
    assert found == []


def plays():
    """(playbook file, play) of every play of the collection's playbooks."""
    import yaml

    folder = os.path.join(ROOT, "playbooks")
    for name in sorted(os.listdir(folder)):
        if name.endswith(".yml"):
            with open(os.path.join(folder, name), encoding="utf-8") as handle:
                for play in yaml.safe_load(handle):
                    yield name, play


def collection_calls(tasks):
    """The arguments of every call of a geusemaker.stack module in ``tasks``, blocks included."""
    for task in tasks or []:
        for key, value in task.items():
            if key in ("block", "rescue", "always"):
                yield from collection_calls(value)
            elif key.startswith("geusemaker.stack.") and isinstance(value, dict):
                yield value


HEADER_VARS = ("aws_region", "aws_session_token", "lock_ttl", "geusemaker_aws", "geusemaker_stack")
SHARED_DEFAULTS = {"group/geusemaker.stack.aws": "{{ geusemaker_aws }}", "group/geusemaker.stack.stack": "{{ geusemaker_stack }}"}


def test_every_play_has_the_shared_header():
    # The region, the session token, the lock's ttl, the state location and the module defaults are given once, in
    # playbooks/vars/stack.yml; a play that spells them out again would drift from the others (issue 21).
    import yaml

    with open(os.path.join(ROOT, "playbooks", "vars", "stack.yml"), encoding="utf-8") as handle:
        assert sorted(yaml.safe_load(handle)) == sorted(HEADER_VARS)
    found = []
    for name, play in plays():
        where = "{0}: {1}".format(name, play.get("name"))
        if play.get("vars_files") != ["vars/stack.yml"]:
            found.append("{0} does not read vars/stack.yml".format(where))
        found += ["{0} sets {1} itself".format(where, var) for var in HEADER_VARS if var in (play.get("vars") or {})]
        if any(True for _unused in collection_calls(play.get("tasks"))) and play.get("module_defaults") != SHARED_DEFAULTS:
            found.append("{0} has module_defaults {1}".format(where, play.get("module_defaults")))
        if any("commands" in args for args in collection_calls(play.get("tasks"))):
            found.append("{0} gives commands itself (the stack_state action plugin reads them from the run)".format(where))
    assert found == []
    assert len(list(plays())) == 9
