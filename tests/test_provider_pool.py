"""How many dynamic-resource calls run at once: the SDK's provider host serves four.

Every dynamic resource of a stack is served by one `python -m pulumi.dynamic` process, whose
gRPC server has four worker threads (`ThreadPoolExecutor(max_workers=4)` in the SDK's
`pulumi/dynamic/__main__.py`); the engine's `--parallel` does not change it. docs/removal.md
says what follows for removals: drains run four at a time. Proven here through the real host,
with drains the fake's PodDisruptionBudgets hold until the test lets them go: four nodes are
cordoned, the fifth and sixth only once a drain ended, and nothing in this program serializes
the four (a lock around a whole call would show as one).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from components.removal.node_removal import NodeDrainProvider
from components.settings.admin_kubeconfig import CONFIG_KEY
from tests.fake_apiserver import FakeApiServer
from tests.provider_host import provider_host

NODES = [f"node-{index}" for index in range(6)]
HOST_WORKERS = 4


def cordoned(server: FakeApiServer) -> set[str]:
    return {
        node["metadata"]["name"]
        for node in server.list_nodes()
        if (node.get("spec") or {}).get("unschedulable")
    }


def wait_until(check: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.05)


def test_the_host_drains_four_nodes_at_once_and_no_more(server: FakeApiServer) -> None:
    for node in NODES:
        server.add_node(node, ready=True)
        server.workloads.add_pod("shop", f"db-{node}", node, labels={"app": node})
        server.workloads.add_budget("shop", f"pdb-{node}", {"app": node}, min_available=1)

    with (
        provider_host(NodeDrainProvider(), {CONFIG_KEY: server.kubeconfig()}) as host,
        ThreadPoolExecutor(len(NODES)) as engine,
    ):
        states = [{"node_name": node, "drain": True, "timeout_seconds": 60} for node in NODES]
        deletes = [engine.submit(host.delete, state["node_name"], state) for state in states]
        wait_until(lambda: len(cordoned(server)) == HOST_WORKERS)
        time.sleep(1)  # a fifth call, were it served, would cordon its node meanwhile
        at_once = cordoned(server)
        for node in sorted(at_once):
            server.workloads.remove_budget("shop", f"pdb-{node}")
        wait_until(lambda: len(cordoned(server)) == len(NODES))
        for node in NODES:
            if node not in at_once:
                server.workloads.remove_budget("shop", f"pdb-{node}")
        for delete in deletes:
            delete.result(timeout=60)

    assert len(at_once) == HOST_WORKERS
    assert server.workloads.pods() == []
