"""kubelet-bootstrap: the tutorial's kubelet deployment as one Pulumi graph, one stack a cluster.

Reads like the tutorial: settings, then one bootstrap token per node and the bootstrap RBAC,
then per node its files, its preparation and its kubelet start.
"""

import os

import pulumi
import pulumi_kubernetes as k8s

from components.approval.csr_approval import ServingCsrApproval
from components.cluster.bootstrap_rbac import BootstrapRbac
from components.cluster.bootstrap_token import BootstrapToken
from components.cluster.node_metadata import node_metadata
from components.node.inventory import approval_entry, inventory_entry, kubelet_target
from components.node.kubelet_node import KubeletNode
from components.node.rollout import batches, describe, waits_for
from components.node.ssh import node_connection
from components.removal.node_removal import NodeRemoval
from components.renewal.approver import RenewalApprover
from components.renewal.binary import ApproverBuildError
from components.settings.admin_kubeconfig import kubeconfig_path
from components.settings.loading import SettingsError, load_settings
from components.settings.secret_config import keep_secret, secret_strings
from components.settings.stack_config import misplaced_keys, read_stack_config
from components.verification.kubelet_api_check import KubeletApiVerification

# 0. Settings: all validated before any resource is registered; what was set with --secret
# stays secret in every input that holds it.
raw_config = read_stack_config()
try:
    settings = load_settings(raw_config, also=misplaced_keys())
except SettingsError as error:
    raise pulumi.RunError(str(error)) from None
secrets = secret_strings(raw_config, pulumi.runtime.get_config_secret_keys_env())
if secrets:
    pulumi.runtime.register_stack_transformation(keep_secret(secrets))

# The dynamic providers read the admin credential from the stack's configuration when they act
# (`cluster.admin_provider`). The kubernetes provider, which makes the RBAC objects, is given
# the file's path when the stack names one (it reads it when configured, so the state holds no
# credential and a rotated file is used at once), else the content, as a secret.
admin_kubeconfig = kubeconfig_path(raw_config.get("kubeconfig"), os.environ) or (
    pulumi.Output.secret(settings.kubeconfig.get_secret_value())
)
# An object that already exists is taken over only when the stack says so
# (docs/approval-and-security.md, "Adopting RBAC that already exists").
cluster = pulumi.ResourceOptions(
    provider=k8s.Provider(
        "cluster",
        kubeconfig=admin_kubeconfig,
        upsert_existing_objects=settings.rbac.adopt_existing,
    )
)

# 1. Bootstrap Token Auth and its RBAC (kubelet-bootstrap, csr-crb.yaml).
rbac = BootstrapRbac(keep_on_destroy=not settings.rbac.delete_on_destroy, opts=cluster)

active = [node for node in settings.nodes if not node.decommissioned]
# Restarts of running kubelets go in batches, each after the one before passed its gate.
rollout = batches([node.name for node in active], settings.rollout.batch_size)
restart_after = waits_for(rollout)
if settings.rollout.batch_size is not None:
    pulumi.log.info(describe(rollout, settings.rollout.batch_size))

nodes = {}
for node in settings.nodes:
    # 2. A bootstrap token per node (kubeadm token create); none for a decommissioned node.
    token = None
    if not node.decommissioned:
        token = BootstrapToken(node.name, settings.bootstrap_token.ttl_seconds)
    # Its removal: drained before its kubelet stops, its Node object deleted after (kubectl).
    removal = NodeRemoval(node, settings.removal)
    # 3. Its files, swap off, and the kubelet started (scp, ssh, systemctl).
    kubelet = KubeletNode(
        node,
        settings,
        token,
        node_connection(settings.ssh, node),
        bootstrap_prerequisites=[rbac, *removal.before_start],
        after=[nodes[name][1].restart for name in restart_after.get(node.name, [])],
    )
    removal.drain_before_stop(kubelet.start)
    if token is None:
        continue
    nodes[node.name] = (token, kubelet)
    # 3b. Its labels and taints on its Node, registered or changed later (kubectl label/taint).
    if node.labels or node.taints:
        node_metadata(node, settings.verification.timeout_seconds, kubelet.restart)

# 4. Approve each kubelet's serving CSR, only if it is genuine (kubectl certificate approve).
approval = ServingCsrApproval(
    "serving-csr-approval",
    settings.ca_cert_file.pem,
    [
        approval_entry(node, settings.kubelet.port, kubelet.files_sha256)
        for node, (_, kubelet) in zip(active, nodes.values(), strict=True)
    ],
    settings.csr_approval.timeout_seconds,
    opts=pulumi.ResourceOptions(depends_on=[kubelet.restart for _, kubelet in nodes.values()]),
)

# 5. Check each kubelet's API as the tutorial does with curl, unless turned off.
if settings.verification.enabled:
    KubeletApiVerification(
        "kubelet-api-verification",
        settings.ca_cert_file.pem,
        [kubelet_target(node, settings.kubelet.port) for node in active],
        settings.verification.timeout_seconds,
        after=[approval],
    )

# 6. Approve serving-certificate renewals as they come: a service on the hosts named, with its
# own identity and the stack's inventory (the tutorial approved them by hand, again each year).
renewal_approver = None
if settings.renewal_approver.active_hosts:
    try:
        renewal_approver = RenewalApprover(
            "renewal-approver", settings, [inventory_entry(node) for node in active], opts=cluster
        )
    except ApproverBuildError as error:
        raise pulumi.RunError(str(error)) from None

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
pulumi.export("rolloutBatches", rollout)
pulumi.export("decommissioned", [node.name for node in settings.nodes if node.decommissioned])
pulumi.export("servingCertificates", approval.approved)
pulumi.export(
    "renewalApprover",
    {"hosts": []}
    if renewal_approver is None
    else {"account": renewal_approver.account, "hosts": renewal_approver.hosts},
)
