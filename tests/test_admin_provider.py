"""The admin credential is read from the stack's configuration when a provider acts.

Through the SDK's own provider host, configured as the engine configures it: a credential
rotated after create (the old one revoked) is the one delete uses; a host configured with the
revoked one fails; a stack without the setting gets a message naming the key. The state of a
stack made by 0.2.0, which stored the credential as an input, is reported as a change and
written back without it, by every kind of dynamic resource.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from pulumi.dynamic import ResourceProvider

from components.approval.csr_approval import ServingCsrApprovalProvider
from components.cluster.admin_provider import STORED
from components.cluster.node_metadata import NodeMetadataProvider
from components.cluster.token_issue import TokenIssueProvider
from components.removal.node_removal import NodeDrainProvider, NodeObjectProvider
from components.settings.admin_kubeconfig import CONFIG_KEY
from components.verification.kubelet_api_check import KubeletApiCheckProvider
from tests.factories import configured
from tests.fake_apiserver import FakeApiServer
from tests.fake_http import User
from tests.provider_host import provider_host

NODE = "kube-node1"
TOKEN_PROPS = {
    "node_name": NODE,
    "extra_group": "system:bootstrappers:kube-node1",
    "ttl_seconds": 600,
}


def test_a_rotated_credential_is_the_one_delete_uses(server: FakeApiServer) -> None:
    with provider_host(TokenIssueProvider(), {CONFIG_KEY: server.kubeconfig()}) as host:
        id_, outs = host.create(TOKEN_PROPS)
    rotated = "rotated-admin-token-0123456789"
    server.add_token(rotated, User("kubernetes-admin-2"))
    server.revoke_token(server.token)

    with provider_host(TokenIssueProvider(), {CONFIG_KEY: server.kubeconfig(rotated)}) as host:
        host.delete(id_, outs)

    assert server.tokens.secrets("kube-system") == []


def test_a_revoked_credential_in_the_configuration_fails_even_with_state_from_before(
    server: FakeApiServer,
) -> None:
    with provider_host(TokenIssueProvider(), {CONFIG_KEY: server.kubeconfig()}) as host:
        id_, outs = host.create(TOKEN_PROPS)
    revoked = server.token
    server.add_token("another-admin-token-0123456789", User("kubernetes-admin-2"))
    server.revoke_token(revoked)

    # The state holds a working credential, as a stack made by 0.2.0 did: it is not used.
    stored = {**outs, STORED: server.kubeconfig("another-admin-token-0123456789")}
    configured_revoked = {CONFIG_KEY: server.kubeconfig(revoked)}
    with (
        provider_host(TokenIssueProvider(), configured_revoked) as host,
        pytest.raises(grpc.RpcError) as failure,
    ):
        host.delete(id_, stored)

    assert "401 Unauthorized" in str(failure.value.details())
    assert revoked not in str(failure.value.details())
    assert [s["metadata"]["name"] for s in server.tokens.secrets("kube-system")] == [id_]


def test_without_the_setting_the_error_names_the_key_and_the_command(
    server: FakeApiServer,
) -> None:
    with provider_host(NodeObjectProvider(), {}) as host, pytest.raises(grpc.RpcError) as failure:
        host.delete(NODE, {"node_name": NODE})

    details = str(failure.value.details())
    assert f"{CONFIG_KEY} is not set, nor $KUBECONFIG" in details
    assert "pulumi config set --secret kubeconfig" in details


def test_kubeconfig_from_the_environment_when_the_stack_has_none(
    server: FakeApiServer, tmp_path: Any
) -> None:
    path = tmp_path / "admin.kubeconfig"
    path.write_text(server.kubeconfig())
    uid = server.add_node(NODE, ready=True)["metadata"]["uid"]

    with provider_host(NodeObjectProvider(), {}, env={"KUBECONFIG": str(path)}) as host:
        host.delete(NODE, {"node_name": NODE, "node_uid": uid})

    assert server.list_nodes() == []


def test_a_malformed_setting_is_named_without_its_content(server: FakeApiServer) -> None:
    broken = server.kubeconfig().replace(server.token, f'"{server.token}')
    provider = configured(NodeObjectProvider(), broken)

    with pytest.raises(RuntimeError) as failure:
        provider.delete(NODE, {"node_name": NODE})

    assert str(failure.value).startswith(f"{CONFIG_KEY} is not YAML at line")
    assert server.token not in str(failure.value)


def _checked_nodes(server: FakeApiServer) -> dict[str, Any]:
    """Inputs of the approval and of the API check with no node to judge."""
    return {"ca_pem": server.ca_pem.decode(), "nodes": [], "timeout_seconds": 1}


@pytest.mark.parametrize(
    ("provider", "inputs"),
    [
        pytest.param(TokenIssueProvider(), lambda _: TOKEN_PROPS, id="TokenIssue"),
        pytest.param(
            NodeDrainProvider(), lambda _: {"node_name": NODE, "drain": True}, id="NodeDrain"
        ),
        pytest.param(NodeObjectProvider(), lambda _: {"node_name": NODE}, id="NodeObject"),
        pytest.param(
            NodeMetadataProvider(),
            lambda _: {"node": NODE, "labels": {}, "taints": [], "timeout_seconds": 1},
            id="NodeMetadata",
        ),
        pytest.param(ServingCsrApprovalProvider(), _checked_nodes, id="ServingCsrApproval"),
        pytest.param(
            KubeletApiCheckProvider(),
            lambda server: {**_checked_nodes(server), "identity": "kubelet-api-check-lab"},
            id="KubeletApiCheck",
        ),
    ],
)
def test_a_credential_stored_by_0_2_is_a_change_and_the_update_drops_it(
    server: FakeApiServer,
    provider: ResourceProvider,
    inputs: Callable[[FakeApiServer], dict[str, Any]],
) -> None:
    server.add_node(NODE, ready=True)
    news = inputs(server)
    olds = {**news, STORED: server.kubeconfig()}

    diff = provider.diff("id", olds, news)
    updated = configured(provider, server.kubeconfig()).update("id", olds, news).outs

    assert diff.changes is True and not diff.replaces
    assert STORED not in updated
    assert provider.diff("id", updated, news).changes is False
