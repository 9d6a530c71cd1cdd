"""kubelet-bootstrap: the tutorial's kubelet deployment as one Pulumi graph, one stack a cluster.

Reads like the tutorial: settings, then one bootstrap token per node and the bootstrap RBAC,
then per node its files, its preparation and its kubelet start.
"""

import pulumi
import pulumi_kubernetes as k8s

from components.bootstrap_rbac import BootstrapRbac
from components.bootstrap_token import BootstrapToken
from components.kubelet_node import KubeletNode
from components.settings import SettingsError, load_settings
from components.ssh import node_connection
from components.stack_config import read_stack_config

# 0. Settings: all validated before any resource is registered.
try:
    settings = load_settings(read_stack_config())
except SettingsError as error:
    raise pulumi.RunError(str(error)) from None

cluster = pulumi.ResourceOptions(
    provider=k8s.Provider(
        "cluster",
        kubeconfig=pulumi.Output.secret(settings.kubeconfig.get_secret_value())
        if settings.kubeconfig
        else None,
    )
)

# 1. Bootstrap Token Auth and its RBAC (kubelet-bootstrap, csr-crb.yaml).
rbac = BootstrapRbac(opts=cluster)

nodes = {}
for node in settings.nodes:
    # 2. A bootstrap token per node (kubeadm token create).
    token = BootstrapToken(node.name, settings.bootstrap_token.ttl_seconds, opts=cluster)
    # 3. Its files, swap off, and the kubelet started (scp, ssh, systemctl).
    kubelet = KubeletNode(
        node,
        settings,
        token,
        node_connection(settings.ssh, node),
        bootstrap_prerequisites=[rbac],
    )
    nodes[node.name] = (token, kubelet)

pulumi.export(
    "nodes",
    {
        name: {
            "tokenId": token.token_id,
            "kubeletEndpoint": kubelet.kubelet_endpoint,
            "filesSha256": kubelet.files_sha256,
        }
        for name, (token, kubelet) in nodes.items()
    },
)
pulumi.export(
    "bootstrapKubeconfigSha256",
    {name: kubelet.bootstrap_kubeconfig_sha256 for name, (_, kubelet) in nodes.items()},
)
pulumi.export("rbac", rbac.names)
