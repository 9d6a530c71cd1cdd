"""The token-expiration dynamic provider: fixed at creation, and it survives dill pickling."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone

from pulumi.dynamic.dynamic import serialize_provider

from components.token_expiration import TokenExpirationProvider
from offline.engine import PROJECT_ROOT

# What the dynamic provider host does: `python -m pulumi.dynamic`, started in the project
# directory (the engine launches plugins there), unpickles the provider and calls it.
_LOAD_AND_CREATE = """
import base64, json, sys
import dill
provider = dill.loads(base64.b64decode(sys.argv[1]))
result = provider.create({"token_name": "node-1-token-expiration", "ttl_seconds": 5400})
print(json.dumps({"id": result.id, "outs": result.outs}))
"""


def test_create_fixes_expiration_from_ttl() -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)
    result = TokenExpirationProvider().create(
        {"token_name": "n-token-expiration", "ttl_seconds": 3600}
    )
    expiration = datetime.strptime(result.outs["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=timezone.utc
    )
    assert (
        before + timedelta(hours=1) <= expiration <= datetime.now(timezone.utc) + timedelta(hours=1)
    )
    assert result.id.startswith("n-token-expiration@")


def test_diff_is_quiet_for_same_ttl_and_replaces_for_a_new_one() -> None:
    provider = TokenExpirationProvider()
    olds = {"token_name": "n", "ttl_seconds": 3600, "expiration": "2026-11-26T12:00:00Z"}
    same = provider.diff("id", olds, {"token_name": "n", "ttl_seconds": 3600, "expiration": None})
    assert same.changes is False and same.replaces == []
    changed = provider.diff(
        "id", olds, {"token_name": "n", "ttl_seconds": 7200, "expiration": None}
    )
    assert changed.changes is True and changed.replaces == ["ttl_seconds"]


def test_provider_survives_dill_pickling_into_a_fresh_provider_process() -> None:
    pickled = serialize_provider(TokenExpirationProvider())
    assert base64.b64decode(pickled)  # the form Pulumi stores in state as __provider
    completed = subprocess.run(
        [sys.executable, "-c", _LOAD_AND_CREATE, pickled],
        cwd=PROJECT_ROOT,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    created = json.loads(completed.stdout)
    assert created["outs"]["ttl_seconds"] == 5400
    assert created["outs"]["expiration"].endswith("Z")
