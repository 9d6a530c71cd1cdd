"""`KubeletApiVerification`: the tutorial's kubelet API checks, after serving CSRs are approved.

The check is a dynamic resource that runs on the machine running Pulumi, which must reach
every node's kubelet port (see `kubelet_verification`). It brings its own identity and
removes it when done (see `verification_identity`): the tutorial's ServiceAccount
`default/kubelet-api-test`, bound to `system:kubelet-api-admin` for good, is not made.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, UpdateResult

from components.cluster.admin_provider import AdminProvider, stored_credential, without_credential
from components.verification.verification_identity import identity_name


class KubeletApiCheckProvider(AdminProvider):
    """Runs the checks on create and on every change of what they check."""

    __module__ = "components.kubelet_api_check"  # its stable path in existing state (see there)

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_="kubelet-api-check", outs=_checked(self.admin_client(), props))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=_checked(self.admin_client(), without_credential(news)))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        keys = ("ca_pem", "nodes", "timeout_seconds")
        changed = [k for k in keys if olds.get(k) != news.get(k)] + stored_credential(olds)
        return DiffResult(changes=bool(changed), replaces=[])


def _checked(api: Any, props: dict[str, Any]) -> dict[str, Any]:
    import sys

    from components.verification.kubelet_verification import KubeletTarget, verify

    targets = [KubeletTarget(n["name"], n["address"], int(n["port"])) for n in props["nodes"]]
    verify(
        api,
        targets,
        props["ca_pem"],
        float(props["timeout_seconds"]),
        log=lambda line: print(line, file=sys.stderr, flush=True),
        identity=props["identity"],
    )
    return {**props, "verified": [t.name for t in targets]}


class KubeletApiCheck(Resource, module="kubelet-bootstrap", name="KubeletApiCheck"):
    """Every node registered; every kubelet refuses anonymous requests and serves a token
    allowed its API."""

    verified: pulumi.Output[list[str]]

    def __init__(
        self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(KubeletApiCheckProvider(), name, {**props, "verified": None}, opts)


class KubeletApiVerification(pulumi.ComponentResource):
    """The tutorial's kubelet API check, once every serving CSR is approved."""

    check: KubeletApiCheck

    def __init__(
        self,
        name: str,
        ca_pem: str,
        nodes: list[dict[str, Any]],
        timeout_seconds: int,
        after: list[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("kubelet-bootstrap:index:KubeletApiVerification", name, None, opts)
        self.check = KubeletApiCheck(
            f"{name}-check",
            {
                "ca_pem": ca_pem,
                "nodes": nodes,
                "timeout_seconds": timeout_seconds,
                # Not among what `diff` compares: a new name alone checks nothing again.
                "identity": identity_name(pulumi.get_stack()),
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=after),
        )
        self.register_outputs({"verified": self.check.verified})
