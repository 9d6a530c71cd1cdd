"""Which KubeletConfiguration fields the node's config template fills, from which settings.

The settings refuse these fields in `extraConfig`: the setting owns them. Kept here as data so
that the settings import nothing of the node package; `tests/test_settings.py` proves it equal
to what the template itself references (`node.rendering.kubelet_config_sources`).
"""

from __future__ import annotations

KUBELET_CONFIG_SOURCES: dict[str, tuple[str, ...]] = {
    "address": ("node.address",),
    "authentication": ("kubelet.ca_file",),
    "cgroupDriver": ("kubelet.cgroup_driver",),
    "clusterDNS": ("cluster.dns_service_ip",),
    "clusterDomain": ("cluster.dns_domain",),
    "containerRuntimeEndpoint": ("kubelet.container_runtime_endpoint",),
    "eventRecordQPS": ("kubelet.event_record_qps",),
    "failSwapOn": ("kubelet.fail_swap_on",),
    "kubeAPIBurst": ("kubelet.kube_api_burst",),
    "kubeAPIQPS": ("kubelet.kube_api_qps",),
    "maxPods": ("kubelet.max_pods",),
    "podPidsLimit": ("kubelet.pod_pids_limit",),
    "port": ("kubelet.port",),
    "registerWithTaints": ("node.taints",),
    "registryPullQPS": ("kubelet.registry_pull_qps",),
    "resolvConf": ("kubelet.resolv_conf",),
}
"""Field -> the settings' attributes it is rendered from (`port` -> `("kubelet.port",)`)."""
