"""The benchmark's baseline: the kubelet-bootstrap graph with none of the program's own work.

`bench.graph` runs this file through the same offline engine as `__main__.py`. It registers
the same resources (same types, same parents, the same dependency edges) for `bench:nodes`
nodes, but with constant, trivial inputs: no stack configuration is read beyond the node
count, no settings are validated, no template is rendered, nothing is hashed, nothing is
exported. What is left is the cost of registering the graph under the engine and the Pulumi
SDK, which the program's time is divided by.

The token expiration is the program's own dynamic resource: it does no work in the program,
but its provider is pickled at every registration, which is SDK cost the baseline must pay too.
"""

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
from pulumi_command import remote

from components.csr_approval import ServingCsrApproval
from components.kubelet_api_check import KubeletApiCheck
from components.node_removal import NodeDrain, NodeObject
from components.token_expiration import TokenExpiration

NODES = pulumi.Config("bench").require_int("nodes")

RBAC_ROLE = "approve-node-server-renewal-csr"
RBAC_BINDINGS = (
    "kubelet-bootstrap",
    "auto-approve-csrs-for-group",
    "node-client-cert-renewal",
    "node-server-cert-renewal",
)
# Files written before the kubelet starts; the bootstrap kubeconfig waits on the token.
WRITES = ("bootstrap-kubeconfig", "ca", "kubelet-config", "kubelet-unit")
CONNECTION = remote.ConnectionArgs(host="node.invalid", user="root")
ROLE_REF = k8s.rbac.v1.RoleRefArgs(
    api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="r"
)

cluster = pulumi.ResourceOptions(provider=k8s.Provider("cluster"))

rbac = pulumi.ComponentResource(
    "kubelet-bootstrap:index:BootstrapRbac", "bootstrap-rbac", None, cluster
)
role = k8s.rbac.v1.ClusterRole(RBAC_ROLE, opts=pulumi.ResourceOptions(parent=rbac))
for binding in RBAC_BINDINGS:
    k8s.rbac.v1.ClusterRoleBinding(
        binding,
        role_ref=ROLE_REF,
        opts=pulumi.ResourceOptions(
            parent=rbac, depends_on=[role] if binding == "node-server-cert-renewal" else None
        ),
    )
rbac.register_outputs({})

starts = []
for index in range(NODES):
    name = f"node-{index}"

    token = pulumi.ComponentResource("kubelet-bootstrap:index:BootstrapToken", name, None, cluster)
    in_token = pulumi.ResourceOptions(parent=token)
    token_id = random.RandomString(f"{name}-token-id", length=6, opts=in_token)
    token_secret = random.RandomPassword(f"{name}-token-secret", length=16, opts=in_token)
    expiration = TokenExpiration(f"{name}-token-expiration", 3600, opts=in_token)
    secret = k8s.core.v1.Secret(
        f"{name}-bootstrap-token",
        opts=pulumi.ResourceOptions(parent=token, depends_on=[token_id, token_secret, expiration]),
    )
    token.register_outputs({})

    removal = pulumi.ComponentResource("kubelet-bootstrap:index:NodeRemoval", name)
    in_removal = pulumi.ResourceOptions(parent=removal)
    node_object = NodeObject(f"{name}-node-object", {"node_name": name}, in_removal)

    node = pulumi.ComponentResource("kubelet-bootstrap:index:KubeletNode", name)
    writes = [
        remote.Command(
            f"{name}-{key}",
            connection=CONNECTION,
            create="true",
            opts=pulumi.ResourceOptions(
                parent=node,
                depends_on=[token_id, token_secret] if key == "bootstrap-kubeconfig" else None,
            ),
        )
        for key in WRITES
    ]
    prepare = remote.Command(
        f"{name}-prepare",
        connection=CONNECTION,
        create="true",
        opts=pulumi.ResourceOptions(parent=node),
    )
    start = remote.Command(
        f"{name}-start-kubelet",
        connection=CONNECTION,
        create="true",
        opts=pulumi.ResourceOptions(
            parent=node, depends_on=[*writes, prepare, secret, rbac, node_object]
        ),
    )
    starts.append(start)
    node.register_outputs({})
    NodeDrain(
        f"{name}-drain",
        {"node_name": name},
        pulumi.ResourceOptions(parent=removal, depends_on=[start]),
    )
    removal.register_outputs({})

approval = ServingCsrApproval(
    "serving-csr-approval", "", "", [], 60, opts=pulumi.ResourceOptions(depends_on=starts)
)
verification = pulumi.ComponentResource(
    "kubelet-bootstrap:index:KubeletApiVerification", "kubelet-api-verification"
)
KubeletApiCheck(
    "kubelet-api-verification-check",
    {},
    opts=pulumi.ResourceOptions(parent=verification, depends_on=[approval]),
)
verification.register_outputs({})
