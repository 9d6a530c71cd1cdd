"""Whether a node's bootstrap token must be issued anew: the decision, from what the API shows.

A token is needed only until the kubelet holds a client certificate. Once the token is unusable
(its Secret gone, as kube-controller-manager's tokencleaner deletes it at expiration, or still
there but expired, which the API server refuses just the same) a new one is issued only for a
node without a working client identity: no Node, no Lease, or a Lease its kubelet stopped
renewing. A node whose kubelet renews its Lease keeps its token resources as they are, however
long ago the token expired. Pure functions of plain dicts, for the pickled provider.
"""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from typing import Any

# A kubelet renews its Lease every leaseDurationSeconds / 4 (10 s of the default 40 s). Twice
# the duration without a renewal means it stopped (the node lifecycle controller gives up
# after 50 s); it also absorbs a clock skew between this machine and the API server.
STALE_LEASE_DURATIONS = 2
DEFAULT_LEASE_SECONDS = 40


def token_problem(secret: dict[str, Any] | None, name: str, now: datetime) -> str | None:
    """Why the token of Secret `name` no longer authenticates, or None while it does."""
    if secret is None:
        return f"its Secret {name} is gone (the tokencleaner deletes expired tokens)"
    encoded = (secret.get("data") or {}).get("expiration")
    if not encoded:
        return None
    expiration = base64.b64decode(encoded).decode()
    if parse_time(expiration) <= now:
        return f"its Secret {name} expired at {expiration}"
    return None


def identity_problem(
    node_name: str, node: dict[str, Any] | None, lease: dict[str, Any] | None, now: datetime
) -> str | None:
    """Why the node's kubelet has no working client certificate, or None when it has one."""
    if node is None:
        return f"there is no Node {node_name}: its kubelet never got its client certificate"
    spec = (lease or {}).get("spec") or {}
    renewed = spec.get("renewTime")
    if not renewed:
        return f"Node {node_name} has no Lease its kubelet renews in kube-node-lease"
    seconds = int(spec.get("leaseDurationSeconds") or DEFAULT_LEASE_SECONDS)
    if parse_time(renewed) + timedelta(seconds=STALE_LEASE_DURATIONS * seconds) < now:
        return (
            f"the kubelet of Node {node_name} last renewed its Lease at {renewed}: "
            "it lost its client certificate or stopped"
        )
    return None


def reissue_reason(
    node_name: str,
    secret_name: str,
    secret: dict[str, Any] | None,
    node: dict[str, Any] | None,
    lease: dict[str, Any] | None,
    now: datetime,
) -> str | None:
    """Why `node_name` needs a new token (both problems), or None when it keeps its own."""
    token = token_problem(secret, secret_name, now)
    if token is None:
        return None
    identity = identity_problem(node_name, node, lease, now)
    if identity is None:
        return None
    return f"{node_name}: {token}, and {identity}"


def parse_time(text: str) -> datetime:
    """RFC 3339 as the API writes it (`Z`, a fraction of 6 digits for a MicroTime); Python
    3.10's `fromisoformat` reads no `Z`."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)
