"""The AWX / Automation Controller files (issue 13, "Controller files").

- extensions/awx/configure.yml: every module option, nested suboption and lookup keyword is checked against the
  argument specs awx.awx (and ansible.builtin) publish through `ansible-doc -j`; every survey against the rules
  AWX's API applies to a survey spec; the workflow graph by walking it the way AWX's scheduler does.
- execution-environment.yml: `ansible-builder create` succeeds, and the galaxy stage of the build it writes is
  replayed offline, then introspected the way the image build does.
- collections/requirements.yml: a `git archive` of the project resolves geusemaker.stack through it with
  `ansible-galaxy collection install --offline`, and the playbooks pass a syntax check from there.
- playbooks/workflow_failed.yml and workflow_wait.yml run through ansible-runner, as AWX runs them.

None of this talks to a controller: nothing here proves the files against a live AWX.
"""

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import time

import jinja2
import jinja2.nodes
import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
CONFIGURE = os.path.join(ROOT, "extensions", "awx", "configure.yml")
EE_FILE = os.path.join(ROOT, "execution-environment.yml")

# The contract: the extra variables the playbooks accept, and the names users see.
CONTRACT_VARS = {
    "stack_name", "aws_region", "state_backend", "state_bucket", "state_prefix", "lock_ttl", "rollback",
    "instance_type", "use_spot", "allowed_cidrs", "ssh_cidrs", "health_check_timeout", "keep_data",
    "destroy_job_template",
}
JOB_TEMPLATES = {
    "GeuseMaker deploy": "playbooks/deploy.yml",
    "GeuseMaker destroy": "playbooks/destroy.yml",
    "GeuseMaker list": "playbooks/list.yml",
    "GeuseMaker check": "playbooks/check.yml",
}
WORKFLOW = "GeuseMaker deploy with rollback"
FAIL_PLAYBOOK = "playbooks/workflow_failed.yml"

# Values for the variables configure.yml cannot guess, as a team passes them with -e.
SAMPLE_VARS = {
    "geusemaker_controller_host": "https://awx.example.com",
    "geusemaker_project_url": "https://git.example.com/platform/geusemaker-stack.git",
    "geusemaker_ee_image": "registry.example.com/platform/geusemaker-ee:1.0",
    "geusemaker_state_bucket": "example-geusemaker-state",
}


def tool(name):
    return os.path.join(BIN, name)


def clean_env(home, **extra):
    """The test process's environment without ANSIBLE_* settings, with its own HOME (no ~/.ansible copies)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(HOME=str(home), PATH=BIN + os.pathsep + env.get("PATH", ""), ANSIBLE_NOCOLOR="1")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run(cmd, cwd, env, timeout=300):
    return subprocess.run(cmd, cwd=str(cwd), env=env, capture_output=True, text=True, timeout=timeout, check=False)


# ---------------------------------------------------------------------------------------------------------------
# configure.yml, loaded and rendered as ansible-playbook would (play vars plus the -e values above)
# ---------------------------------------------------------------------------------------------------------------

def load_play(path=CONFIGURE, mutate=None):
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar

    loader = DataLoader()
    plays = loader.load_from_file(path, cache="none", trusted_as_template=True)
    assert isinstance(plays, list) and len(plays) == 1, "configure.yml holds one play"
    play = plays[0]
    if mutate:
        mutate(play)
    variables = dict(play.get("vars") or {})
    variables.update(SAMPLE_VARS)
    templar = Templar(loader=loader, variables=variables)
    return play, templar


def module_of(task):
    """The one key of a task that is not a task keyword: its module."""
    from ansible.playbook.task import Task

    keywords = set(Task.fattributes) | {"local_action"}
    rest = [k for k in task if k not in keywords and not k.startswith("with_")]
    assert len(rest) == 1, "task {0!r} has {1} non-keyword keys: {2}".format(task.get("name"), len(rest), rest)
    return rest[0]


def rendered_tasks(play, templar):
    """[(task name, module FQCN, rendered arguments)]; omitted options are gone, as at run time."""
    tasks = []
    for task in play["tasks"]:
        module = module_of(task)
        tasks.append((task.get("name"), module, templar.template(task[module])))
    return tasks


_DOCS = {}


def ansible_doc(names, plugin_type="module"):
    """{fqcn: doc} from `ansible-doc -j`, cached per process."""
    missing = sorted({n for n in names if (plugin_type, n) not in _DOCS})
    if missing:
        result = subprocess.run(
            [tool("ansible-doc"), "-t", plugin_type, "-j"] + missing, cwd=ROOT, capture_output=True, text=True,
            timeout=300, env=clean_env(os.environ.get("HOME", "/tmp")), check=False)
        assert result.returncode == 0, result.stderr
        docs = json.loads(result.stdout)
        for name in missing:
            assert name in docs and docs[name].get("doc"), "ansible-doc knows no {0} {1}".format(plugin_type, name)
            _DOCS[(plugin_type, name)] = docs[name]["doc"]
    return {n: _DOCS[(plugin_type, n)] for n in names}


def resolve(options, key):
    if key in options:
        return options[key]
    for spec in options.values():
        if key in (spec.get("aliases") or []):
            return spec
    return None


def is_template(value):
    return isinstance(value, str) and ("{{" in value or "{%" in value)


TYPES = {"bool": bool, "int": int, "float": (int, float), "dict": dict, "list": list, "str": str}


def check_options(args, options, where, check_required=True):
    """Problems with args against an argument spec's options: unknown names, types, choices, required ones."""
    problems = []
    if not isinstance(args, dict):
        return ["{0}: expected a dict of options, got {1}".format(where, type(args).__name__)]
    for key, value in args.items():
        spec = resolve(options, key)
        path = "{0}.{1}".format(where, key)
        if spec is None:
            problems.append("{0}: no such option (known: {1})".format(path, ", ".join(sorted(options))))
            continue
        problems.extend(check_value(value, spec, path))
    for name, spec in options.items():
        names = {name} | set(spec.get("aliases") or [])
        if check_required and spec.get("required") and not names & set(args):
            problems.append("{0}.{1}: required option missing".format(where, name))
    return problems


def check_value(value, spec, path):
    if is_template(value):
        return []  # a template left after rendering (an !unsafe value): its type shows only at run time
    kind = spec.get("type", "str")
    expected = TYPES.get(kind)
    if expected is not None and not isinstance(value, expected):
        if not (kind == "str" and isinstance(value, (int, float)) and not isinstance(value, bool)):
            return ["{0}: {1!r} is not of type {2}".format(path, value, kind)]
    if kind == "int" and isinstance(value, bool):
        return ["{0}: {1!r} is a bool, not an int".format(path, value)]
    choices = spec.get("choices")
    if choices and not isinstance(value, (list, dict)) and str(value) not in [str(c) for c in choices]:
        return ["{0}: {1!r} is not one of {2}".format(path, value, choices)]
    suboptions = spec.get("suboptions")
    if kind == "dict" and suboptions:
        return check_options(value, suboptions, path)
    if kind == "list":
        problems = []
        for index, item in enumerate(value):
            item_path = "{0}[{1}]".format(path, index)
            if spec.get("elements") == "dict" and suboptions:
                problems.extend(check_options(item, suboptions, item_path))
            elif spec.get("elements"):
                problems.extend(check_value(item, {"type": spec["elements"]}, item_path))
        return problems
    return []


def lookup_calls(value):
    """[(plugin, [keyword names])] of every lookup()/query() call in the strings of value."""
    env = jinja2.Environment()
    found = []
    if isinstance(value, dict):
        for item in value.values():
            found.extend(lookup_calls(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(lookup_calls(item))
    elif isinstance(value, str) and re.search(r"\b(lookup|query|q)\s*\(", value):
        source = value if ("{{" in value or "{%" in value) else "{{ " + value + " }}"  # conditionals are bare
        tree = env.parse(source)
        for call in tree.find_all(jinja2.nodes.Call):
            if isinstance(call.node, jinja2.nodes.Name) and call.node.name in ("lookup", "query", "q"):
                assert call.args and isinstance(call.args[0], jinja2.nodes.Const), source
                found.append((call.args[0].value, [kw.key for kw in call.kwargs]))
    return found


def option_problems(play, templar):
    tasks = rendered_tasks(play, templar)
    modules = sorted({module for _unused, module, _unused in tasks})
    docs = ansible_doc(modules)
    problems = []
    for name, module, args in tasks:
        problems.extend(check_options(args, docs[module]["options"], "{0} ({1})".format(module, name)))
    # module_defaults apply to every module of the group that the play uses
    defaults = templar.template(play.get("module_defaults") or {})
    for group, args in defaults.items():
        assert group == "group/awx.awx.controller", "unexpected module_defaults entry " + group
        for module in modules:
            if module.startswith("awx.awx."):
                problems.extend(check_options(args, docs[module]["options"], "module_defaults[{0}]".format(module),
                                              check_required=False))
    # lookups anywhere in the play, with their keyword arguments
    calls = [(plugin, keys) for plugin, keys in lookup_calls(play) if plugin.startswith("awx.awx.")]
    if calls:
        lookup_docs = ansible_doc(sorted({plugin for plugin, _unused in calls}), "lookup")
        for plugin, keys in calls:
            for key in keys:
                if resolve(lookup_docs[plugin]["options"], key) is None:
                    problems.append("lookup {0}: no such option {1}".format(plugin, key))
    return problems


# ---------------------------------------------------------------------------------------------------------------
# AWX's survey spec rules: awx/api/views JobTemplateSurveySpec._validate_spec_data (the POST .../survey_spec/
# validation, shared by workflow job templates), awx/main/constants.SURVEY_TYPE_MAPPING, and the launch-time
# checks of defaults (awx/main/models/mixins.SurveyJobTemplateMixin._survey_element_validation). The API
# documentation (job_template_survey_spec.md) also asks each question for a question_description.
# ---------------------------------------------------------------------------------------------------------------

SURVEY_TYPE_MAPPING = {"text": str, "textarea": str, "password": str, "multiplechoice": str, "multiselect": str,
                       "integer": int, "float": (float, int)}


def survey_problems(spec):
    problems = []
    for field, expected in (("name", str), ("description", str), ("spec", list)):
        if field not in spec:
            problems.append("Field '{0}' is missing from survey spec.".format(field))
        elif not isinstance(spec[field], expected):
            problems.append("Expected {0} for field '{1}'.".format(expected.__name__, field))
    if isinstance(spec.get("spec"), list) and not spec["spec"]:
        problems.append("'spec' doesn't contain any items.")
    if problems:
        return problems
    variables = set()
    for idx, item in enumerate(spec["spec"]):
        where = "survey question {0}".format(idx)
        if not isinstance(item, dict):
            problems.append(where + " is not a json object")
            continue
        for field in ("type", "question_name", "variable", "required", "question_description"):
            if field not in item:
                problems.append("'{0}' missing from {1}".format(field, where))
                continue
            expected = bool if field == "required" else str
            if not isinstance(item[field], expected):
                problems.append("'{0}' in {1} expected to be {2}".format(field, where, expected.__name__))
        unknown = set(item) - {"type", "question_name", "question_description", "variable", "required", "default",
                               "min", "max", "choices", "new_question"}
        if unknown:
            problems.append("{0}: unknown fields {1}".format(where, sorted(unknown)))
        variable = item.get("variable")
        if variable in variables:
            problems.append("'variable' '{0}' duplicated in {1}".format(variable, where))
        variables.add(variable)
        qtype = item.get("type")
        if qtype not in SURVEY_TYPE_MAPPING:
            problems.append("'{0}' in {1} is not one of the allowed question types".format(qtype, where))
            continue
        default = item.get("default", "")
        if default != "" and (not isinstance(default, SURVEY_TYPE_MAPPING[qtype]) or isinstance(default, bool)):
            problems.append("Default value {0!r} in {1} expected to be {2}".format(default, where, qtype))
        for key in ("min", "max"):
            if key in item and item[key] is not None and (not isinstance(item[key], int) or isinstance(item[key], bool)):
                problems.append("The {0} limit in {1} expected to be integer.".format(key, where))
        if qtype in ("multiplechoice", "multiselect"):
            choices = item.get("choices")
            if choices is None:
                problems.append(where + " must specify choices")
                continue
            if isinstance(choices, str):
                choices = [c for c in choices.splitlines() if c.strip()]
            defaults = [d for d in default.splitlines() if d.strip()] if isinstance(default, str) else default
            if qtype == "multiplechoice" and len(defaults) > 1:
                problems.append(where + ": Multiple Choice (Single Select) can only have one default value.")
            if any(d not in choices for d in defaults):
                problems.append(where + ": Default choice must be answered from the choices listed.")
        if isinstance(default, str) and default.startswith("$encrypted$"):
            problems.append(where + ": $encrypted$ is a reserved keyword")
        # A default is used as the answer when the launcher leaves it; AWX checks it like one.
        if default != "" and qtype in ("text", "textarea", "password") and isinstance(default, str):
            if isinstance(item.get("min"), int) and len(default) < item["min"]:
                problems.append("{0}: default {1!r} shorter than min {2}".format(where, default, item["min"]))
            if isinstance(item.get("max"), int) and len(default) > item["max"]:
                problems.append("{0}: default {1!r} longer than max {2}".format(where, default, item["max"]))
        if default != "" and qtype in ("integer", "float") and isinstance(default, (int, float)):
            if isinstance(item.get("min"), int) and default < item["min"]:
                problems.append("{0}: default {1} below min {2}".format(where, default, item["min"]))
            if isinstance(item.get("max"), int) and default > item["max"]:
                problems.append("{0}: default {1} above max {2}".format(where, default, item["max"]))
    return problems


def surveys(tasks):
    """{template name: rendered survey spec} of job templates and workflow job templates."""
    found = {}
    for _unused, module, args in tasks:
        if module in ("awx.awx.job_template", "awx.awx.workflow_job_template") and "survey_spec" in args:
            found[args["name"]] = args
    return found


def survey_variables(template):
    return {item["variable"] for item in template["survey_spec"]["spec"]}


def required_variables(template):
    return {item["variable"] for item in template["survey_spec"]["spec"] if item.get("required")}


# ---------------------------------------------------------------------------------------------------------------
# The workflow, walked as AWX's scheduler walks it (awx/main/scheduler/dag_workflow.py: a finished node's
# success_nodes run when its job succeeded, failure_nodes when it failed, errored or was canceled, always_nodes in
# both cases; a node with several parents runs when any of them leads to it, all_parents_must_converge aside)
# ---------------------------------------------------------------------------------------------------------------

def walk_workflow(nodes, outcome):
    """outcome(identifier, template name) -> 'successful'|'failed'|'canceled'; returns the identifiers run, in order."""
    by_id = {node["identifier"]: node for node in nodes}
    children = {node["identifier"]: set() for node in nodes}
    for node in nodes:
        for kind in ("success_nodes", "failure_nodes", "always_nodes"):
            for child in (node.get("related") or {}).get(kind) or []:
                children[node["identifier"]].add(child["identifier"])
    has_parent = set().union(*children.values())
    ran, queue = [], [i for i in by_id if i not in has_parent]
    while queue:
        ident = queue.pop(0)
        if ident in ran:
            continue
        ran.append(ident)
        assert len(ran) <= 50, "the workflow loops"
        status = outcome(ident, by_id[ident]["unified_job_template"]["name"])
        related = by_id[ident].get("related") or {}
        kinds = ["always_nodes"] + (["success_nodes"] if status == "successful" else ["failure_nodes"])
        for kind in kinds:
            queue.extend(child["identifier"] for child in related.get(kind) or [])
    return ran


# ---------------------------------------------------------------------------------------------------------------
# Tests: the controller configuration
# ---------------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def config():
    play, templar = load_play()
    return play, templar, rendered_tasks(play, templar)


def test_every_option_is_in_the_argument_specs(config):
    play, templar, tasks = config
    modules = {module for _unused, module, _unused in tasks}
    assert {"awx.awx.project", "awx.awx.execution_environment", "awx.awx.credential", "awx.awx.job_template",
            "awx.awx.workflow_job_template"} <= modules
    assert option_problems(play, templar) == []


def test_the_option_check_catches_misspelt_options():
    """Each kind of mistake the check above looks for, made once in a copy of the play, is reported."""

    def task_args(play, name):
        for task in play["tasks"]:
            if task.get("name") == name:
                return task[module_of(task)]
        raise AssertionError(name)

    def workflow(play):
        return task_args(play, "Create the workflow that destroys what a failed deploy left")

    mutations = {
        "top-level option": (lambda p: task_args(p, "Create the project from git").update(scm_urll="x"),
                             "scm_urll: no such option"),
        "node suboption": (lambda p: workflow(p)["workflow_nodes"][0].update(identifer="x"),
                           "workflow_nodes[0].identifer: no such option"),
        "required suboption": (lambda p: workflow(p)["workflow_nodes"][1].pop("identifier"),
                               "workflow_nodes[1].identifier: required option missing"),
        "link suboption": (lambda p: workflow(p)["workflow_nodes"][0]["related"].update(on_failure=[]),
                           "related.on_failure: no such option"),
        "choice": (lambda p: task_args(p, "Create the project from git").update(scm_type="github"),
                   "'github' is not one of"),
        "type": (lambda p: task_args(p, "Create the deploy job template").update(allow_simultaneous="sometimes"),
                 "allow_simultaneous: 'sometimes' is not of type bool"),
        "module_defaults": (lambda p: p["module_defaults"]["group/awx.awx.controller"].update(controller_url="x"),
                            "module_defaults[awx.awx.project].controller_url: no such option"),
        "lookup keyword": (lambda p: task_args(p, "Check that the AWS credential exists")["that"].__setitem__(
            0, "query('awx.awx.controller_api', 'credentials', hostname='x') | length == 1"),
            "lookup awx.awx.controller_api: no such option hostname"),
    }
    for label, (mutate, expected) in mutations.items():
        play, templar = load_play(mutate=mutate)
        problems = option_problems(play, templar)
        assert any(expected in p for p in problems), (label, problems)


def test_surveys_follow_awx_survey_rules_and_the_playbook_contract(config):
    _unused, _unused, tasks = config
    found = surveys(tasks)
    assert set(found) == set(JOB_TEMPLATES) | {WORKFLOW}
    for name, template in found.items():
        assert template.get("survey_enabled") is True, name
        assert survey_problems(template["survey_spec"]) == [], name
        assert survey_variables(template) <= CONTRACT_VARS, (name, survey_variables(template) - CONTRACT_VARS)
        assert "aws_region" in required_variables(template), name
        # The state location is the admin's, in the template's own variables; a launcher never chooses it.
        assert not survey_variables(template) & {"state_bucket", "state_prefix"}, name
        if name != "GeuseMaker list":
            assert "stack_name" in required_variables(template), name
    stack_name = next(i for i in found["GeuseMaker deploy"]["survey_spec"]["spec"] if i["variable"] == "stack_name")
    assert (stack_name["type"], stack_name["min"], stack_name["max"]) == ("text", 3, 32)
    assert "keep_data" in survey_variables(found["GeuseMaker destroy"])
    assert "rollback" in survey_variables(found["GeuseMaker deploy"])
    for name in ("GeuseMaker deploy", WORKFLOW):
        cidrs = {i["variable"]: i for i in found[name]["survey_spec"]["spec"]}
        assert cidrs["allowed_cidrs"]["type"] == cidrs["ssh_cidrs"]["type"] == "textarea", name
        assert cidrs["allowed_cidrs"]["required"] is True, name


def launch_templates(tasks):
    return {args["name"]: args for _unused, module, args in tasks
            if module in ("awx.awx.job_template", "awx.awx.workflow_job_template")}


def test_no_template_takes_free_variables_at_launch(config):
    """A user who may only launch gives survey answers and nothing else: no connection or role variable, no
    ami_id, key_name or force_unlock, and no state location of their own."""
    _unused, _unused, tasks = config
    templates = launch_templates(tasks)
    assert set(templates) >= set(JOB_TEMPLATES) | {WORKFLOW}
    free = sorted(name for name, args in templates.items() if args.get("ask_variables_on_launch") is not False)
    assert free == [], "templates that take any variable at launch: {0}".format(free)
    for name, args in templates.items():
        extra = args["extra_vars"]
        assert extra["state_bucket"] == SAMPLE_VARS["geusemaker_state_bucket"], name
        assert extra["state_prefix"] == "geusemaker/stacks/", name


def test_the_survey_check_catches_what_awx_refuses():
    good = {"name": "s", "description": "d", "spec": [
        {"question_name": "Q", "question_description": "D", "variable": "v", "type": "text", "required": True,
         "min": 3, "max": 32, "default": ""},
        {"question_name": "C", "question_description": "D", "variable": "c", "type": "multiplechoice",
         "required": True, "choices": ["true", "false"], "default": "true"}]}
    assert survey_problems(good) == []
    broken = {
        "no description": lambda s: s.pop("description"),
        "empty spec": lambda s: s.update(spec=[]),
        "required as a string": lambda s: s["spec"][0].update(required="true"),
        "unknown type": lambda s: s["spec"][0].update(type="boolean"),
        "duplicate variable": lambda s: s["spec"][1].update(variable="v"),
        "default not a choice": lambda s: s["spec"][1].update(default="yes"),
        "misspelt field": lambda s: s["spec"][0].update(question_desc="x"),
        "min as a string": lambda s: s["spec"][0].update(min="3"),
        "default too long": lambda s: s["spec"][0].update(default="x" * 40),
        "integer default as text": lambda s: s["spec"][0].update(type="integer", default="900", min=None, max=None),
    }
    for label, mutate in broken.items():
        spec = copy.deepcopy(good)
        mutate(spec)
        assert survey_problems(spec), label


def test_job_templates_run_the_contract_playbooks(config):
    _unused, _unused, tasks = config
    templates = {args["name"]: args for _unused, module, args in tasks if module == "awx.awx.job_template"}
    for name, playbook in JOB_TEMPLATES.items():
        assert templates[name]["playbook"] == playbook
    for name, template in templates.items():
        assert os.path.isfile(os.path.join(ROOT, template["playbook"])), template["playbook"]
        assert template["extra_vars"]["state_backend"] == "s3", name
        assert template["extra_vars"]["destroy_job_template"] == "GeuseMaker destroy", name
        assert template["extra_vars"]["lock_ttl"] == 120, name
    credential = next(args for _unused, module, args in tasks if module == "awx.awx.credential")
    assert credential["credential_type"] == "Amazon Web Services"
    for name in JOB_TEMPLATES:
        assert templates[name]["credentials"] == [credential["name"]], name
    project = next(args for _unused, module, args in tasks if module == "awx.awx.project")
    assert (project["scm_type"], project["scm_url"]) == ("git", SAMPLE_VARS["geusemaker_project_url"])


def outcomes(deploy_status, destroy_outcomes, playbook):
    """How each job of the workflow ends: the deploy as given, the destroys in turn, the failing node failed."""
    def outcome(ident, name):
        if name == "GeuseMaker deploy":
            return deploy_status
        if name == "GeuseMaker destroy":
            return destroy_outcomes.pop(0) if destroy_outcomes else "successful"
        return "failed" if playbook(ident) == FAIL_PLAYBOOK else "successful"

    return outcome


def workflow_problems(workflow, templates):
    """What is wrong with the workflow: links, the paths AWX would take, and where the destroys get their input."""
    problems = []
    nodes = workflow["workflow_nodes"]
    identifiers = [node["identifier"] for node in nodes]
    if len(identifiers) != len(set(identifiers)):
        problems.append("duplicate node identifiers")
    for node in nodes:
        template = node["unified_job_template"]
        if template.get("type") != "job_template" or template.get("name") not in templates:
            problems.append("node {0} runs no job template of this configuration".format(node["identifier"]))
            return problems
        for kind, links in (node.get("related") or {}).items():
            if not {link["identifier"] for link in links} <= set(identifiers):
                problems.append("node {0}: {1} names an unknown node".format(node["identifier"], kind))
                return problems

    def playbook(ident):
        node = next(n for n in nodes if n["identifier"] == ident)
        return templates[node["unified_job_template"]["name"]]["playbook"]

    ran = [playbook(i) for i in walk_workflow(nodes, lambda ident, name: "successful")]
    if ran != ["playbooks/deploy.yml"]:
        problems.append("a successful deploy runs {0}".format(ran))
    # deploy fails or is canceled; whatever the destroys do, a destroy runs and the last node fails the workflow
    for deploy_status in ("failed", "canceled"):
        for destroy_outcomes in (["successful"], ["failed", "successful"], ["failed", "failed"]):
            ran = [playbook(i) for i in walk_workflow(nodes, outcomes(deploy_status, list(destroy_outcomes), playbook))]
            case = "deploy {0}, destroys {1}: ran {2}".format(deploy_status, destroy_outcomes, ran)
            if ran[:2] != ["playbooks/deploy.yml", "playbooks/destroy.yml"]:
                problems.append(case + ": no destroy right after the deploy")
            elif ran.count("playbooks/destroy.yml") != len(destroy_outcomes):
                problems.append(case + ": not one destroy per outcome")
            elif ran[-1] != FAIL_PLAYBOOK or ran.count(FAIL_PLAYBOOK) != 1:
                problems.append(case + ": the workflow does not end on its failing node")
            elif destroy_outcomes[0] == "failed" and "playbooks/workflow_wait.yml" not in ran[2:]:
                problems.append(case + ": no wait for the killed run's lock before the second destroy")
    # the destroys learn the stack from the workflow's survey, not from artifacts, and the state location from the
    # admin's variables
    if not {"stack_name", "aws_region"} <= required_variables(workflow):
        problems.append("the workflow's survey does not require the stack name and region")
    for name in (WORKFLOW, "GeuseMaker destroy"):
        args = workflow if name == WORKFLOW else templates[name]
        if not {"state_bucket", "state_prefix"} <= set(args.get("extra_vars") or {}):
            problems.append("{0} does not carry the admin's state location".format(name))
    missing = required_variables(templates["GeuseMaker destroy"]) - {"keep_data"} - survey_variables(workflow)
    if missing:
        problems.append("destroy needs {0}, which the workflow's survey does not ask".format(sorted(missing)))
    if workflow["extra_vars"].get("state_backend") != "s3":
        problems.append("the workflow does not use the S3 state backend")
    return problems


def workflow_and_templates(tasks):
    templates = {args["name"]: args for _unused, module, args in tasks if module == "awx.awx.job_template"}
    workflow = next(args for _unused, module, args in tasks if module == "awx.awx.workflow_job_template")
    return copy.deepcopy(workflow), templates


def test_workflow_destroys_after_a_failed_deploy_and_ends_failed(config):
    workflow, templates = workflow_and_templates(config[2])
    assert workflow["name"] == WORKFLOW
    assert workflow_problems(workflow, templates) == []


def test_the_workflow_check_catches_broken_graphs(config):
    def node(workflow, ident):
        return next(n for n in workflow["workflow_nodes"] if n["identifier"] == ident)

    broken = {
        # destroy without a parent is a root: AWX runs it at the start of every workflow
        "no failure link": lambda w: node(w, "deploy")["related"].update(failure_nodes=[]),
        "failure goes straight to the failing node": lambda w: node(w, "deploy")["related"].update(
            failure_nodes=[{"identifier": "failed"}]),
        "second destroy is a dead end": lambda w: node(w, "destroy_again").pop("related"),
        "no wait before the second destroy": lambda w: node(w, "destroy")["related"].update(
            failure_nodes=[{"identifier": "destroy_again"}]),
        "link to a missing node": lambda w: node(w, "destroy")["related"].update(
            success_nodes=[{"identifier": "fialed"}]),
        "stack name only from artifacts": lambda w: w["survey_spec"].update(
            spec=[q for q in w["survey_spec"]["spec"] if q["variable"] != "stack_name"]),
        "state location left to the launcher": lambda w: w["extra_vars"].pop("state_bucket"),
    }
    for label, mutate in broken.items():
        workflow, templates = workflow_and_templates(config[2])
        mutate(workflow)
        assert workflow_problems(workflow, templates), label


# ---------------------------------------------------------------------------------------------------------------
# Tests: the workflow's playbooks, through ansible-runner as AWX runs them
# ---------------------------------------------------------------------------------------------------------------

def runner_run(tmp_path, monkeypatch, playbook, extravars, cmdline=None):
    import ansible_runner

    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    for name in [k for k in os.environ if k.startswith("ANSIBLE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PATH", BIN + os.pathsep + os.environ.get("PATH", ""))
    pdd = tmp_path / "runner"
    pdd.mkdir(exist_ok=True)
    kwargs = {}
    if cmdline:
        kwargs["cmdline"] = cmdline
    result = ansible_runner.run(
        private_data_dir=str(pdd), project_dir=ROOT, playbook=os.path.join(ROOT, playbook),
        inventory=os.path.join(ROOT, "playbooks", "inventory.yml"), extravars=extravars, quiet=True,
        envvars={"HOME": str(home), "ANSIBLE_NOCOLOR": "1"}, timeout=300, **kwargs)
    return result, result.stdout.read()


def test_workflow_failed_playbook_fails_naming_the_stack(tmp_path, monkeypatch):
    extravars = {"stack_name": "demo-wf", "state_backend": "s3", "state_bucket": "b", "lock_ttl": 120,
                 "destroy_job_template": "GeuseMaker destroy",
                 "geusemaker": {"stack_name": "demo-wf", "status": "destroyed"}}  # the destroy's artifacts
    result, out = runner_run(tmp_path, monkeypatch, FAIL_PLAYBOOK, extravars)
    assert result.status == "failed" and result.rc != 0, out
    assert "The deploy of stack demo-wf failed" in out
    assert "stack status after it: destroyed" in out
    assert 'run the job template "GeuseMaker destroy" with stack_name=demo-wf' in out


def test_workflow_wait_playbook_waits_lock_ttl(tmp_path, monkeypatch):
    started = time.monotonic()
    result, out = runner_run(tmp_path, monkeypatch, "playbooks/workflow_wait.yml",
                             {"stack_name": "demo-wf", "lock_ttl": 2, "lock_wait_margin": 1})
    assert result.status == "successful", out
    assert time.monotonic() - started >= 3


def test_configure_playbook_passes_a_syntax_check_through_runner(tmp_path, monkeypatch):
    result, out = runner_run(tmp_path, monkeypatch, "extensions/awx/configure.yml", {}, cmdline="--syntax-check")
    assert result.status == "successful", out


# ---------------------------------------------------------------------------------------------------------------
# Tests: the execution environment
# ---------------------------------------------------------------------------------------------------------------

def venv_collection(name):
    """Path of a collection bundled in the venv by the `ansible` package (its copy is what the tests run)."""
    import ansible_collections

    for base in ansible_collections.__path__:
        path = os.path.join(base, *name.split("."))
        if os.path.isfile(os.path.join(path, "MANIFEST.json")):
            return path
    pytest.fail("no bundled copy of " + name)


def manifest_version(path):
    with open(os.path.join(path, "MANIFEST.json")) as handle:
        return json.load(handle)["collection_info"]["version"]


def test_meta_execution_environment_points_to_files():
    with open(os.path.join(ROOT, "meta", "execution-environment.yml")) as handle:
        meta = yaml.safe_load(handle)
    assert meta["version"] == 1
    assert meta["dependencies"] == {"python": "requirements.txt", "system": "bindep.txt"}
    for name in meta["dependencies"].values():
        assert os.path.isfile(os.path.join(ROOT, name)), name


def test_execution_environment_pins_what_the_tests_run():
    from importlib.metadata import version

    with open(EE_FILE) as handle:
        ee = yaml.safe_load(handle)
    assert ee["version"] == 3
    deps = ee["dependencies"]
    assert deps["ansible_core"]["package_pip"] == "ansible-core==" + version("ansible-core")
    assert deps["ansible_runner"]["package_pip"] == "ansible-runner==" + version("ansible-runner")
    collections = {c["name"]: c for c in deps["galaxy"]["collections"]}
    assert collections["amazon.aws"]["version"] == manifest_version(venv_collection("amazon.aws"))
    assert collections["geusemaker.stack"]["type"] == "dir"


def ansible_builder_create(ee_file, context, home):
    return run([tool("ansible-builder"), "create", "-f", str(ee_file), "-c", str(context), "-v", "2"],
               ROOT, clean_env(home))


def test_ansible_builder_create_and_the_galaxy_stage_offline(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    context = tmp_path / "context"
    result = ansible_builder_create(EE_FILE, context, home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No matches" not in result.stdout + result.stderr  # every additional_build_files entry was found
    build = context / "_build"
    containerfile = next(p for p in (context / "Containerfile", context / "Dockerfile") if p.exists())
    text = containerfile.read_text()
    assert "ansible-galaxy collection install" in text and "introspect" in text
    for name in ("galaxy.yml", "meta/execution-environment.yml", "requirements.txt", "bindep.txt",
                 "plugins/modules/stack_lock.py", "playbooks/deploy.yml", "roles/cleanup/tasks/main.yml"):
        assert (build / "geusemaker-stack" / name).is_file(), name

    # Replay the galaxy stage: `ansible-galaxy collection install -r requirements.yml` in /build (here _build).
    # Offline, amazon.aws comes from the venv's copy, seeded first, as Galaxy would provide it in a real build.
    collections = tmp_path / "usr-share-collections"
    env = clean_env(home, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false")
    seed = run([tool("ansible-galaxy"), "collection", "install", venv_collection("amazon.aws"),
                "-p", str(collections), "--offline"], build, env)
    assert seed.returncode == 0, seed.stdout + seed.stderr
    stage = run([tool("ansible-galaxy"), "collection", "install", "-r", "requirements.yml",
                 "--collections-path", str(collections), "--offline"], build, env)
    assert stage.returncode == 0, stage.stdout + stage.stderr
    assert (collections / "ansible_collections" / "geusemaker" / "stack" / "MANIFEST.json").is_file()
    assert not (collections / "ansible_collections" / "geusemaker" / "stack" / "tests").exists()  # build_ignore

    # The builder stage's introspection finds the collection's Python and system needs.
    intro = run([tool("ansible-builder"), "introspect", str(collections), "--sanitize"], ROOT, clean_env(home))
    assert intro.returncode == 0, intro.stdout + intro.stderr
    data = yaml.safe_load(intro.stdout.split("\n", 1)[1])
    assert any(line.startswith("boto3") and "geusemaker.stack" in line for line in data["python"]), data
    assert any(line.startswith("ca-certificates") and "geusemaker.stack" in line for line in data["system"]), data


def test_ansible_builder_create_rejects_a_wrong_option(tmp_path):
    with open(EE_FILE) as handle:
        ee = yaml.safe_load(handle)
    ee["dependencies"]["ansible_cores"] = ee["dependencies"].pop("ansible_core")
    broken = tmp_path / "execution-environment.yml"
    broken.write_text(yaml.safe_dump(ee))
    (tmp_path / "home").mkdir()
    result = ansible_builder_create(broken, tmp_path / "context", tmp_path / "home")
    assert result.returncode != 0
    assert "ansible_cores" in result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------------------------
# Tests: a plain clone used as an AWX project resolves the collection through collections/requirements.yml
# ---------------------------------------------------------------------------------------------------------------

def archive_working_tree(dest):
    """`git archive` of what a commit of the working tree would hold (tracked and unignored files), leaving the
    repository's index alone; in a fresh clone that is HEAD."""
    if shutil.which("git") is None or run(["git", "rev-parse", "--git-dir"], ROOT, dict(os.environ)).returncode:
        pytest.skip("not a git checkout")
    index = str(dest) + ".index"
    env = dict(os.environ, GIT_INDEX_FILE=index)
    shutil.copyfile(run(["git", "rev-parse", "--path-format=absolute", "--git-path", "index"], ROOT,
                        dict(os.environ)).stdout.strip(), index)
    assert run(["git", "add", "-A"], ROOT, env).returncode == 0
    tree = run(["git", "write-tree"], ROOT, env).stdout.strip()
    os.unlink(index)
    dest.mkdir()
    archive = subprocess.run(["git", "archive", "--format=tar", tree], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)


def test_git_archive_resolves_the_collection_through_requirements(tmp_path):
    project = tmp_path / "project"
    archive_working_tree(project)
    assert not (project / ".ansible").exists()  # the checkout's own link is not part of a clone
    home = tmp_path / "home"
    home.mkdir()
    collections = tmp_path / "collections"
    # Nothing from the venv's site-packages: amazon.aws and geusemaker.stack must come from the install dir.
    env = clean_env(home, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false", ANSIBLE_COLLECTIONS_PATH=collections)
    playbooks = sorted("playbooks/" + name for name in os.listdir(project / "playbooks")
                       if name.endswith(".yml") and name != "inventory.yml")
    assert {"playbooks/deploy.yml", "playbooks/destroy.yml", "playbooks/list.yml", "playbooks/check.yml",
            FAIL_PLAYBOOK} <= set(playbooks)

    # Offline there is no Galaxy: amazon.aws comes from the venv's copy (the `ansible` package bundles it),
    # installed into the same dir the way a Galaxy download would be.
    seed = run([tool("ansible-galaxy"), "collection", "install", venv_collection("amazon.aws"),
                "-p", str(collections), "--offline"], project, env)
    assert seed.returncode == 0, seed.stdout + seed.stderr

    before = run([tool("ansible-playbook"), "--syntax-check", "playbooks/deploy.yml"], project, env)
    assert before.returncode != 0 and "geusemaker.stack" in before.stdout + before.stderr  # the failure

    # What AWX's project sync runs, from the project's root.
    install = run([tool("ansible-galaxy"), "collection", "install", "-r", "collections/requirements.yml",
                   "-p", str(collections), "--offline"], project, env)
    assert install.returncode == 0, install.stdout + install.stderr
    assert "geusemaker.stack:" in install.stdout and "was installed successfully" in install.stdout
    installed = collections / "ansible_collections" / "geusemaker" / "stack"
    assert (installed / "plugins" / "modules" / "stack_lock.py").is_file()

    listing = run([tool("ansible-galaxy"), "collection", "list", "--format", "json"], project, env)
    assert listing.returncode == 0, listing.stderr
    where = {name: path for path, found in json.loads(listing.stdout).items() for name in found}
    assert where["geusemaker.stack"] == str(collections / "ansible_collections")
    assert where["amazon.aws"] == str(collections / "ansible_collections")

    check = run([tool("ansible-playbook"), "--syntax-check"] + playbooks, project, env)
    assert check.returncode == 0, check.stdout + check.stderr


# ---------------------------------------------------------------------------------------------------------------
# Tests: docs/awx.md
# ---------------------------------------------------------------------------------------------------------------

def test_the_documented_bucket_policy_grants_only_what_the_state_needs():
    with open(os.path.join(ROOT, "docs", "awx.md")) as handle:
        text = handle.read()
    assert "docs/iam/state-bucket-policy.json" in text
    with open(os.path.join(ROOT, "docs", "iam", "state-bucket-policy.json")) as handle:
        policy = json.load(handle)
    allowed = {}
    for statement in policy["Statement"]:
        if statement["Effect"] == "Allow":
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            for action in actions:
                allowed[action] = statement
    assert set(allowed) == {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"}
    assert allowed["s3:GetObject"]["Resource"].endswith(":::example-geusemaker-state/geusemaker/stacks/*")
    listing = allowed["s3:ListBucket"]
    assert listing["Resource"] == "arn:aws:s3:::example-geusemaker-state"
    assert listing["Condition"]["StringLike"]["s3:prefix"] == ["geusemaker/stacks/", "geusemaker/stacks/*"]
    for name in ("GeuseMaker deploy", "GeuseMaker destroy", "GeuseMaker list", "GeuseMaker check", WORKFLOW):
        assert name in text, name
    assert "docs/iam/deployer-policy.json" in text


def test_the_bucket_policy_refuses_other_principals_and_unconditional_state_writes():
    """Evaluated as AWS would (tests/support/authz): the deployer's conditional writes pass; a blind overwrite of a
    state document or lock, and any call by someone else of the account, are refused by the policy's Deny."""
    from tests.support.authz.calls import Request, Target
    from tests.support.authz.check import ALLOW_EVERYTHING, decisions, load_policy
    from tests.support.authz.principals import deployer, load_calls, as_requests
    from tests.support.authz.reference import Reference

    reference = Reference()
    bucket, prefix = "state-bucket", "stacks/"
    principal = deployer(state_bucket=bucket, state_prefix=prefix)

    def decided(action, key, keys=None, who=principal):
        target = Target("object" if key else "bucket", "arn:aws:s3:::{0}{1}".format(bucket, "/" + key if key else ""))
        [(_unused, decision)] = decisions(Request(action, [target], keys or {}), who, reference)
        return decision

    assert decided("s3:PutObject", prefix + "demo.json", {"s3:if-match": "ETAG"}).allowed
    assert decided("s3:PutObject", prefix + "demo.lock", {"s3:if-none-match": "*"}).allowed
    assert decided("s3:PutObject", prefix + "demo.recovery.md").allowed
    for key in ("demo.json", "demo.lock"):
        refused = decided("s3:PutObject", prefix + key)
        assert refused.effect == "deny" and "DenyUnconditionalStateWrites" in str(refused.deciding), refused.explain()
    someone = copy.copy(principal)
    someone.identity = [load_policy(ALLOW_EVERYTHING, "administrator")]
    someone.arn = "arn:aws:iam::123456789012:user/someone-else"
    for action, key in (("s3:GetObject", prefix + "demo.json"), ("s3:ListBucket", ""),
                        ("s3:PutObject", prefix + "demo.json")):
        refused = decided(action, key, {"s3:if-match": "ETAG"} if action == "s3:PutObject" else None, someone)
        assert refused.effect == "deny" and "DenyEveryOtherPrincipal" in str(refused.deciding), (action, refused.explain())
    # Every write of the recorded AWX run's state and locks was conditional.
    writes = [r for r in as_requests(load_calls("awx")) if r.action == "s3:PutObject"]
    assert writes and all(r.keys for r in writes if r.targets[0].arn.endswith((".json", ".lock"))), writes
