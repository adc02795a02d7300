"""Release step: pin every image of roles/services/defaults/main.yml by digest.

For each services_<name>_image, asks the registry for the digest of its tag (``crane digest`` when crane is on
PATH, else ``docker buildx imagetools inspect``) and writes ``<repository>:<tag>@sha256:<digest>`` in place. An
image already pinned is resolved again from its tag, so a moved tag shows up as a changed line in the diff. Needs a
registry, so it runs where one is reachable (never in the tests' namespace); --check prints what it would write.

    python3 scripts/pin-images.py [--check]
"""

import argparse
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULTS = os.path.join(ROOT, "roles", "services", "defaults", "main.yml")
LINE = re.compile(r"^(services_[a-z0-9]+_image): (\S+)$", re.M)
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def resolve(reference):
    """The digest of ``reference`` (a tag) in its registry."""
    if shutil.which("crane"):
        command = ["crane", "digest", reference]
    else:
        command = ["docker", "buildx", "imagetools", "inspect", reference, "--format", "{{json .Manifest.Digest}}"]
    answer = subprocess.run(command, capture_output=True, text=True, check=False)
    digest = answer.stdout.strip().strip('"')
    if answer.returncode != 0 or not DIGEST.match(digest):
        raise SystemExit("cannot resolve {0}: {1}".format(reference, (answer.stderr or answer.stdout).strip()))
    return digest


def pinned(text):
    """``text`` with every image line pinned; returns (new text, [(variable, old, new)])."""
    changes = []

    def pin(match):
        name, image = match.group(1), match.group(2)
        tagged = image.split("@", 1)[0]
        new = "{0}@{1}".format(tagged, resolve(tagged))
        if new != image:
            changes.append((name, image, new))
        return "{0}: {1}".format(name, new)

    return LINE.sub(pin, text), changes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="print what would change, write nothing")
    args = parser.parse_args()
    with open(DEFAULTS) as handle:
        text = handle.read()
    new, changes = pinned(text)
    for name, old, image in changes:
        print("{0}: {1} -> {2}".format(name, old, image))
    if not changes:
        print("every image is pinned to the digest its tag has now")
    if changes and not args.check:
        with open(DEFAULTS, "w") as handle:
            handle.write(new)
        print("written: {0}; update the defaults in roles/services/meta/argument_specs.yml to match".format(DEFAULTS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
