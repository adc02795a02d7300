"""Makes this checkout importable as ansible_collections.geusemaker.stack (scripts/setup.sh links it)."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".ansible", "collections")
if not os.path.isdir(os.path.join(COLLECTIONS, "ansible_collections", "geusemaker", "stack")):
    raise RuntimeError("run scripts/setup.sh first: it links this checkout in as geusemaker.stack")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
