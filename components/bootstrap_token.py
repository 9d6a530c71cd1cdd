"""One node's bootstrap token: what `kubeadm token create` did in the tutorial.

The token id is public (it names the Secret and the `system:bootstrap:<id>` user); the token
secret is a RandomPassword, so Pulumi state only ever holds it encrypted.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.token_expiration import TokenExpiration

BOOTSTRAP_TOKEN_TYPE = "bootstrap.kubernetes.io/token"


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
    secret: k8s.core.v1.Secret

    def __init__(
        self, node_name: str, ttl_seconds: int, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("kubelet-bootstrap:index:BootstrapToken", node_name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        token_id = random.RandomString(
            f"{node_name}-token-id", length=6, upper=False, special=False, opts=child
        )
        token_secret = random.RandomPassword(
            f"{node_name}-token-secret", length=16, upper=False, special=False, opts=child
        )
        expiration = TokenExpiration(f"{node_name}-token-expiration", ttl_seconds, opts=child)
        self.token_id = token_id.result
        self.token = pulumi.Output.secret(
            pulumi.Output.concat(token_id.result, ".", token_secret.result)
        )
        self.secret = k8s.core.v1.Secret(
            f"{node_name}-bootstrap-token",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=token_id.result.apply(lambda i: f"bootstrap-token-{i}"),
                namespace="kube-system",
                labels={"app.kubernetes.io/managed-by": "kubelet-bootstrap"},
            ),
            type=BOOTSTRAP_TOKEN_TYPE,
            string_data={
                "description": f"kubelet-bootstrap token for node {node_name}",
                "token-id": token_id.result,
                "token-secret": pulumi.Output.secret(token_secret.result),
                "expiration": expiration.expiration,
                "usage-bootstrap-authentication": "true",
                "usage-bootstrap-signing": "true",
                "auth-extra-groups": bootstrap_group(node_name),
            },
            # The name is fixed by the token id, so a replacement must delete first.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        self.register_outputs({"token_id": self.token_id, "secret_name": self.secret.metadata.name})
