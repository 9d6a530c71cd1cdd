"""When a bootstrap token expires, fixed once at creation.

A plain `now() + ttl` in the program would move on every run and show a diff forever; this
dynamic resource computes it in `create` and keeps it, replacing it only when the ttl changes.
The module has no side effects at import, as dill-pickled providers require.
"""

from __future__ import annotations

from datetime import timezone
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider


class TokenExpirationProvider(ResourceProvider):
    """Computes `expiration` (RFC 3339, UTC) from `ttl_seconds` when the token is created."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        from datetime import datetime, timedelta

        expires = datetime.now(timezone.utc) + timedelta(seconds=int(props["ttl_seconds"]))
        expiration = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
        return CreateResult(
            id_=f"{props['token_name']}@{expiration}",
            outs={**props, "expiration": expiration},
        )

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [key for key in ("ttl_seconds", "token_name") if olds.get(key) != news.get(key)]
        return DiffResult(changes=bool(changed), replaces=changed)


class TokenExpiration(Resource, module="kubelet-bootstrap", name="TokenExpiration"):
    """The expiration timestamp of one bootstrap token."""

    expiration: pulumi.Output[str]

    def __init__(
        self, name: str, ttl_seconds: int, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(
            TokenExpirationProvider(),
            name,
            {"token_name": name, "ttl_seconds": ttl_seconds, "expiration": None},
            opts,
        )
