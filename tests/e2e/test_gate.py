"""The health gate through the real CLI, control plane and kubelets (issue 12, item 1).

A new node whose client CSR the API server refuses fails at its start with the TLS bootstrap
message and the kubelet's own error, within `kubelet.healthzTimeoutSeconds`, while the other
nodes join; once the refusal is gone, the next `pulumi up` joins it. (A kubelet that answers
healthz and then dies fails its rollout batch: see test_rollout.py.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from kubernetes import client

from lab import cluster
from tests.e2e.world import World, new_stack

pytestmark = pytest.mark.e2e

HEALTHZ_TIMEOUT = 30


@contextmanager
def csrs_refused_for(world: World, node: str) -> Iterator[None]:
    """A ValidatingAdmissionPolicy refusing every CSR that `node`'s bootstrap token files, as an
    admission webhook or a cluster policy may: the kubelet's CSR create gets a 403."""
    admission = client.AdmissionregistrationV1Api(cluster.api(world.plane))
    name = f"refuse-client-csrs-of-{node}"
    group = f"system:bootstrappers:{node}"
    admission.create_validating_admission_policy(
        client.V1ValidatingAdmissionPolicy(
            metadata=client.V1ObjectMeta(name=name),
            spec=client.V1ValidatingAdmissionPolicySpec(
                failure_policy="Fail",
                match_constraints=client.V1MatchResources(
                    resource_rules=[
                        client.V1NamedRuleWithOperations(
                            api_groups=["certificates.k8s.io"],
                            api_versions=["v1"],
                            operations=["CREATE"],
                            resources=["certificatesigningrequests"],
                        )
                    ]
                ),
                validations=[
                    client.V1Validation(
                        expression=f"!request.userInfo.groups.exists(g, g == '{group}')",
                        message=f"client certificates for {node} are refused by the lab",
                    )
                ],
            ),
        )
    )
    admission.create_validating_admission_policy_binding(
        client.V1ValidatingAdmissionPolicyBinding(
            metadata=client.V1ObjectMeta(name=name),
            spec=client.V1ValidatingAdmissionPolicyBindingSpec(
                policy_name=name, validation_actions=["Deny"]
            ),
        )
    )
    try:
        yield
    finally:
        admission.delete_validating_admission_policy_binding(name)
        admission.delete_validating_admission_policy(name)


def test_a_node_whose_client_csr_is_refused_fails_its_start_saying_why(world: World) -> None:
    refused = world.stack_nodes[2]
    joined = world.stack_nodes[:2]
    with new_stack(world, "gate") as stack:
        stack.set("kubelet.healthzTimeoutSeconds", str(HEALTHZ_TIMEOUT), path=True)
        with csrs_refused_for(world, refused):
            # The policy takes effect once the API server has loaded it.
            time.sleep(3)
            started = time.monotonic()
            up = stack.pulumi("up", "--yes", "--skip-preview", "--continue-on-error", check=False)
            took = time.monotonic() - started
            # While the policy holds: without it the kubelet's own retry soon succeeds.
            assert world.client_certificate_holder(refused) is None
            assert world.joined(joined) == {}

        assert up.returncode != 0, "the node without a client certificate passed its gate"
        output = up.output
        assert (
            f"TLS bootstrap failed on {refused}: after {HEALTHZ_TIMEOUT}s it has no client "
            "certificate"
        ) in output, output[-4000:]
        assert "its last error:" in output
        assert f"client certificates for {refused} are refused by the lab" in output
        world.measure("a start refused its client certificate, up to its failure (s)", took)
        assert took < HEALTHZ_TIMEOUT + 60, took

        stack.pulumi("up", "--yes", "--skip-preview")

        assert world.joined(world.stack_nodes) == {}
