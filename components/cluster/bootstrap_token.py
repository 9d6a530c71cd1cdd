"""One node's bootstrap token: what `kubeadm token create` did in the tutorial.

The token id is public (it names the Secret and the `system:bootstrap:<id>` user); the token
secret is a secret output of `TokenIssue`, so Pulumi state only ever holds it encrypted. A
node that still has no client certificate when its token expired gets a new token on
`pulumi up --refresh` (see `token_issue`).
"""

from __future__ import annotations

import pulumi

from components.cluster.token_issue import TokenIssue


def bootstrap_group(node_name: str) -> str:
    """The token's extra group: the tutorial's `system:bootstrappers:<node>`, made valid.

    The API server refuses the whole token (401) unless every `auth-extra-groups` entry
    matches `system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]`, and a DNS-1123 node name
    (`ip-10-0-0-1.ec2.internal`) may hold dots. A dot becomes `:`, which no node name holds,
    so different names keep different groups without a hash, and dot-free names keep the
    tutorial's group. Nothing binds this group (RBAC binds `system:bootstrappers`): it names
    the node in audit logs.
    """
    return f"system:bootstrappers:{node_name.replace('.', ':')}"


class BootstrapToken(pulumi.ComponentResource):
    """A `bootstrap.kubernetes.io/token` Secret in kube-system for one node."""

    token_id: pulumi.Output[str]
    token: pulumi.Output[str]
    """`<id>.<secret>`, marked secret: what the bootstrap kubeconfig carries."""
    secret: TokenIssue

    def __init__(
        self,
        node_name: str,
        ttl_seconds: int,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("kubelet-bootstrap:index:BootstrapToken", node_name, None, opts)
        # The Secret's name is fixed by the token id, so a replacement deletes first.
        self.secret = TokenIssue(
            f"{node_name}-bootstrap-token",
            node_name,
            bootstrap_group(node_name),
            ttl_seconds,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.token_id = self.secret.token_id
        self.token = pulumi.Output.secret(
            pulumi.Output.concat(self.secret.token_id, ".", self.secret.token_secret)
        )
        self.register_outputs({"token_id": self.token_id, "secret_name": self.secret.secret_name})
