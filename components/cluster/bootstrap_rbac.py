"""The cluster-wide RBAC of TLS bootstrapping, with the tutorial's names and subjects.

`kubelet-bootstrap` lets bootstrap tokens create CSRs; the bindings of the tutorial's
`csr-crb.yaml` let the controller manager approve first client certificates and client
renewals. Serving certificates are never auto-approved by the cluster: see csr approval.

Every kubelet of the cluster renews through these objects, also those this stack never
managed or no longer manages, so `pulumi destroy` keeps them (`retain_on_delete`) unless
told to delete them.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.cluster.rbac import cluster_role_binding, group

BOOTSTRAPPERS = "system:bootstrappers"
NODES = "system:nodes"
SERVER_RENEWAL_ROLE = "approve-node-server-renewal-csr"

# binding name -> (group, cluster role)
BINDINGS = {
    "kubelet-bootstrap": (BOOTSTRAPPERS, "system:node-bootstrapper"),
    "auto-approve-csrs-for-group": (
        BOOTSTRAPPERS,
        "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
    ),
    "node-client-cert-renewal": (
        NODES,
        "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
    ),
    "node-server-cert-renewal": (NODES, SERVER_RENEWAL_ROLE),
}


class BootstrapRbac(pulumi.ComponentResource):
    """The ClusterRole and four ClusterRoleBindings every bootstrapping kubelet relies on."""

    names: dict[str, list[str]]

    def __init__(
        self,
        name: str = "bootstrap-rbac",
        *,
        keep_on_destroy: bool = True,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("kubelet-bootstrap:index:BootstrapRbac", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, retain_on_delete=keep_on_destroy)
        role = k8s.rbac.v1.ClusterRole(
            SERVER_RENEWAL_ROLE,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=SERVER_RENEWAL_ROLE),
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=["certificates.k8s.io"],
                    resources=["certificatesigningrequests/selfnodeserver"],
                    verbs=["create"],
                )
            ],
            opts=child,
        )
        for binding, (subjects, cluster_role) in BINDINGS.items():
            cluster_role_binding(
                binding,
                cluster_role,
                group(subjects),
                pulumi.ResourceOptions.merge(
                    child,
                    pulumi.ResourceOptions(
                        depends_on=[role] if cluster_role == SERVER_RENEWAL_ROLE else None
                    ),
                ),
            )
        self.names = {"clusterRoles": [SERVER_RENEWAL_ROLE], "clusterRoleBindings": list(BINDINGS)}
        self.register_outputs({"names": self.names})
