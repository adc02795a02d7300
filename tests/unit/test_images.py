"""The images the boot script pulls: each at or above its advisory floor (roles/services/defaults/main.yml,
services_image_floors), and none without a floor or a digest."""

import hashlib
import os
import re
import runpy

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULTS = os.path.join(ROOT, "roles", "services", "defaults", "main.yml")


def version(text):
    return tuple(int(part) for part in re.findall(r"\d+", text))


def below_floor(defaults):
    """(variable, image, what is wrong) for each image of ``defaults`` that fails its floor."""
    floors = defaults["services_image_floors"]
    wrong = []
    for name in sorted(k for k in defaults if re.fullmatch(r"services_[a-z0-9]+_image", k)):
        image = defaults[name]
        repository, _digest_sign, digest = image.partition("@")
        repository, _colon, tag = repository.rpartition(":") if ":" in repository.split("/")[-1] else (repository, "", "")
        floor = (floors.get(repository) or {}).get("floor")
        if floor is None and not digest:
            wrong.append((name, image, "neither a digest nor an advisory floor"))
        elif floor is not None and (not tag or version(tag.lstrip("v")) < version(str(floor))):
            wrong.append((name, image, "below its advisory floor {0}".format(floor)))
    return wrong


def test_every_image_is_at_or_above_its_advisory_floor():
    with open(DEFAULTS) as handle:
        defaults = yaml.safe_load(handle)
    assert below_floor(defaults) == []
    assert len([k for k in defaults if re.fullmatch(r"services_[a-z0-9]+_image", k)]) == 5


def test_an_image_below_its_floor_or_unpinned_fails():
    with open(DEFAULTS) as handle:
        defaults = yaml.safe_load(handle)
    older = dict(defaults, services_n8n_image="n8nio/n8n:1.119.1", services_crawl4ai_image="unclecode/crawl4ai:0.7.7",
                 services_qdrant_image="example/unknown:1.0")
    assert below_floor(older) == [
        ("services_crawl4ai_image", "unclecode/crawl4ai:0.7.7", "below its advisory floor 0.8.0"),
        ("services_n8n_image", "n8nio/n8n:1.119.1", "below its advisory floor 1.123.64"),
        ("services_qdrant_image", "example/unknown:1.0", "neither a digest nor an advisory floor"),
    ]
    pinned = dict(defaults, services_qdrant_image="example/unknown:1.0@sha256:" + "0" * 64)
    assert below_floor(pinned) == []


def test_the_release_step_pins_each_image_by_the_digest_its_tag_has(tmp_path, monkeypatch):
    # A crane that answers as the registry would; the real one runs at release, where a registry is reachable.
    crane = tmp_path / "crane"
    crane.write_text('#!/bin/sh\n[ "$1" = digest ] || exit 2\nprintf "sha256:%s\\n" "$(printf %s "$2" | sha256sum | cut -c1-64)"\n')
    crane.chmod(0o755)
    monkeypatch.setenv("PATH", "{0}:{1}".format(tmp_path, os.environ["PATH"]))
    script = runpy.run_path(os.path.join(ROOT, "scripts", "pin-images.py"))
    text = "services_n8n_image: n8nio/n8n:1.123.64\nother: 1\nservices_postgres_image: postgres:16.10@sha256:" + "0" * 64 + "\n"
    new, changes = script["pinned"](text)
    digest = hashlib.sha256(b"n8nio/n8n:1.123.64").hexdigest()
    assert new.splitlines()[0] == "services_n8n_image: n8nio/n8n:1.123.64@sha256:" + digest
    assert new.splitlines()[1] == "other: 1"
    assert new.splitlines()[2] == "services_postgres_image: postgres:16.10@sha256:" + hashlib.sha256(b"postgres:16.10").hexdigest()
    assert [name for name, _old, _new in changes] == ["services_n8n_image", "services_postgres_image"]
    with open(DEFAULTS) as handle:
        assert below_floor(yaml.safe_load(script["pinned"](handle.read())[0])) == []  # the pinned defaults still pass
