"""The benchmark's baseline: the kubelet-bootstrap graph with none of the program's own work.

`bench.graph` runs this file through the same offline engine as `__main__.py`. It registers
the same resources (same types, same parents, the same dependency edges) for `bench:nodes`
nodes in restart batches of `bench:batchSize`, but with constant, trivial inputs: no stack
configuration is read beyond those two, no settings are validated, no template is rendered,
nothing is hashed, nothing is exported. What is left is the cost of registering the graph
under the engine and the Pulumi SDK, which the program's time is divided by.

The token issue is the program's own dynamic resource: it does no work in the program, but its
provider is pickled at every registration, which is SDK cost the baseline must pay too.
"""

import pulumi
import pulumi_kubernetes as k8s
from pulumi_command import remote

from components.approval.csr_approval import ServingCsrApproval
from components.cluster.token_issue import TokenIssue
from components.node.drift import NodeDrift
from components.node.rollout import batches, waits_for
from components.removal.node_removal import NodeDrain, NodeObject
from components.verification.kubelet_api_check import KubeletApiCheck

NODES = pulumi.Config("bench").require_int("nodes")
BATCH_SIZE = pulumi.Config("bench").get("batchSize")

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

names = [f"node-{index}" for index in range(NODES)]
restart_after = waits_for(
    batches(names, int(BATCH_SIZE) if BATCH_SIZE and BATCH_SIZE.isdigit() else BATCH_SIZE)
)
restarts = {}
for name in names:
    token = pulumi.ComponentResource("kubelet-bootstrap:index:BootstrapToken", name, None, cluster)
    in_token = pulumi.ResourceOptions(parent=token)
    secret = TokenIssue(f"{name}-bootstrap-token", name, "g", 3600, opts=in_token)
    token.register_outputs({})

    removal = pulumi.ComponentResource("kubelet-bootstrap:index:NodeRemoval", name)
    in_removal = pulumi.ResourceOptions(parent=removal)
    node_object = NodeObject(f"{name}-node-object", {"node_name": name}, in_removal)

    node = pulumi.ComponentResource("kubelet-bootstrap:index:KubeletNode", name)
    preflight = remote.Command(
        f"{name}-preflight",
        connection=CONNECTION,
        create="true",
        opts=pulumi.ResourceOptions(parent=node),
    )
    # Its inputs hold the bootstrap kubeconfig's sha256, so it waits for the token.
    drift = NodeDrift(
        f"{name}-drift", {"node": name}, pulumi.ResourceOptions(parent=node, depends_on=[secret])
    )
    writes = [
        remote.Command(
            f"{name}-{key}",
            connection=CONNECTION,
            create="true",
            opts=pulumi.ResourceOptions(
                parent=node,
                depends_on=[preflight, drift, *([secret] if key == "bootstrap-kubeconfig" else [])],
            ),
        )
        for key in WRITES
    ]
    prepare = remote.Command(
        f"{name}-prepare",
        connection=CONNECTION,
        create="true",
        opts=pulumi.ResourceOptions(parent=node, depends_on=[preflight]),
    )
    start = remote.Command(
        f"{name}-start-kubelet",
        connection=CONNECTION,
        create="true",
        opts=pulumi.ResourceOptions(
            parent=node, depends_on=[preflight, *writes, prepare, secret, rbac, node_object]
        ),
    )
    restarts[name] = remote.Command(
        f"{name}-restart-kubelet",
        connection=CONNECTION,
        update="true",
        opts=pulumi.ResourceOptions(
            parent=node,
            depends_on=[
                preflight,
                drift,
                start,
                *writes,
                *(restarts[other] for other in restart_after[name]),
            ],
        ),
    )
    node.register_outputs({})
    NodeDrain(
        f"{name}-drain",
        {"node_name": name},
        pulumi.ResourceOptions(parent=removal, depends_on=[start]),
    )
    removal.register_outputs({})

approval = ServingCsrApproval(
    "serving-csr-approval",
    "",
    [],
    60,
    opts=pulumi.ResourceOptions(depends_on=list(restarts.values())),
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
