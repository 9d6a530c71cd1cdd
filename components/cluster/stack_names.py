"""Names of the cluster objects and host paths one stack owns, apart from any other stack's.

Two stacks may manage nodes of one cluster (docs/fleet.md), so what a stack makes under a
fixed name carries the stack's label: readable, a valid DNS label, and distinct (the digest
tells `a.b` from `a-b`).
"""

from __future__ import annotations

import hashlib
import re


def stack_label(stack: str) -> str:
    """Up to 33 characters of [a-z0-9-]: the readable stack name and 8 hex of its digest."""
    readable = re.sub(r"[^a-z0-9]+", "-", stack.lower()).strip("-")[:24].strip("-")
    digest = hashlib.sha256(stack.encode()).hexdigest()[:8]
    return f"{readable}-{digest}" if readable else digest
