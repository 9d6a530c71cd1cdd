"""The lab cluster as the e2e scenarios read it: the admin's view of the API, and the kubelets.

Tests ask the real API server what the program did (tokens, RBAC, CSRs, Nodes) with the
kubernetes client and the lab's admin kubeconfig, and call each kubelet's API over TLS
verified against the cluster CA, as the tutorial does with curl.
"""

from __future__ import annotations

import datetime
import ssl
import urllib.error
import urllib.request
from pathlib import Path

from kubernetes import client, config

from lab.control_plane import ControlPlane, kubeconfig
from lab.pki import Pki


def api(plane: ControlPlane) -> client.ApiClient:
    return config.new_client_from_config(str(plane.admin_kubeconfig))


def bootstrap_token_secrets(plane: ControlPlane) -> list[client.V1Secret]:
    core = client.CoreV1Api(api(plane))
    secrets = core.list_namespaced_secret(
        "kube-system", field_selector="type=bootstrap.kubernetes.io/token"
    )
    return list(secrets.items)


def csrs(plane: ControlPlane) -> list[client.V1CertificateSigningRequest]:
    return list(client.CertificatesV1Api(api(plane)).list_certificate_signing_request().items)


def delete_csrs(plane: ControlPlane) -> None:
    """What kube-controller-manager's CSR cleaner does an hour after approval."""
    certificates = client.CertificatesV1Api(api(plane))
    for request in certificates.list_certificate_signing_request().items:
        certificates.delete_certificate_signing_request(request.metadata.name)


def approved_and_issued(csr: client.V1CertificateSigningRequest) -> bool:
    conditions = csr.status.conditions or []
    approved = any(c.type == "Approved" and c.status == "True" for c in conditions)
    return approved and bool(csr.status.certificate)


def node_names(plane: ControlPlane) -> set[str]:
    return {n.metadata.name for n in client.CoreV1Api(api(plane)).list_node().items}


def lease_renewals(plane: ControlPlane) -> dict[str, datetime.datetime]:
    """When each node's kubelet last renewed its Lease in kube-node-lease, by node name."""
    coordination = client.CoordinationV1Api(api(plane))
    leases = coordination.list_namespaced_lease("kube-node-lease").items
    return {
        lease.metadata.name: lease.spec.renew_time
        for lease in leases
        if lease.spec is not None and lease.spec.renew_time is not None
    }


def service_accounts(plane: ControlPlane, namespace: str) -> set[str]:
    core = client.CoreV1Api(api(plane))
    return {a.metadata.name for a in core.list_namespaced_service_account(namespace).items}


def cluster_role_bindings(plane: ControlPlane) -> set[str]:
    rbac = client.RbacAuthorizationV1Api(api(plane))
    return {b.metadata.name for b in rbac.list_cluster_role_binding().items}


def cluster_roles(plane: ControlPlane) -> set[str]:
    rbac = client.RbacAuthorizationV1Api(api(plane))
    return {r.metadata.name for r in rbac.list_cluster_role().items}


def call_kubelet(
    address: str, plane: ControlPlane, *, client_cert: tuple[Path, Path] | None = None
) -> int:
    """GET /metrics on the kubelet and return the status; its serving certificate must chain
    to the cluster CA and name `address`, or the call raises."""
    context = ssl.create_default_context(cafile=str(plane.ca_cert))
    if client_cert is not None:
        context.load_cert_chain(*client_cert)
    request = urllib.request.Request(f"https://{address}:10250/metrics")
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def bound_admin(plane: ControlPlane, user: str) -> str:
    """A kubeconfig with a client certificate for `user` (in no group) and a ClusterRoleBinding
    of its own, named `user`, to cluster-admin: an admin credential that RBAC revokes (the
    lab's own, in system:masters, cannot be)."""
    identity = Pki(plane.directory / "pki").issue(user, user)
    rbac = client.RbacAuthorizationV1Api(api(plane))
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": user},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "cluster-admin",
        },
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }
    try:
        rbac.create_cluster_role_binding(binding)
    except client.exceptions.ApiException as error:
        if error.status != 409:  # bound by an earlier run
            raise
    return kubeconfig(plane, user, identity)


def unbind_admin(plane: ControlPlane, user: str) -> None:
    """Revoke `bound_admin`'s credential: every request it makes is now refused (403)."""
    rbac = client.RbacAuthorizationV1Api(api(plane))
    try:
        rbac.delete_cluster_role_binding(user)
    except client.exceptions.ApiException as error:
        if error.status != 404:
            raise
