"""ClusterRoleBindings, made one way: named as they are in the cluster, replaced safely."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

RBAC_API_GROUP = "rbac.authorization.k8s.io"


def cluster_role_binding(
    name: str,
    cluster_role: str,
    subject: k8s.rbac.v1.SubjectArgs,
    opts: pulumi.ResourceOptions,
) -> k8s.rbac.v1.ClusterRoleBinding:
    """Bind `cluster_role` to `subject` under the fixed name `name`.

    A binding's roleRef is immutable, so a change replaces it; with a fixed name the old one
    must be deleted first.
    """
    return k8s.rbac.v1.ClusterRoleBinding(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name),
        role_ref=k8s.rbac.v1.RoleRefArgs(
            api_group=RBAC_API_GROUP, kind="ClusterRole", name=cluster_role
        ),
        subjects=[subject],
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(delete_before_replace=True)),
    )


def group(name: str) -> k8s.rbac.v1.SubjectArgs:
    return k8s.rbac.v1.SubjectArgs(api_group=RBAC_API_GROUP, kind="Group", name=name)


def service_account(name: str, namespace: str) -> k8s.rbac.v1.SubjectArgs:
    return k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=name, namespace=namespace)
