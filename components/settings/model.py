"""The stack configuration contract: its keys and defaults, as pydantic models.

What makes one value valid is in `settings.checks`; this module says which key holds what;
`settings.loading` turns the raw configuration into these models, every problem at once.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any, Literal

from pydantic import (
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from components.settings.admin_cluster import admin_cluster_problem
from components.settings.base import StrictSettings as _Strict
from components.settings.checks import (
    AbsolutePath,
    BastionHost,
    BatchSize,
    CaCertificateFile,
    DnsName,
    Duration,
    HostKey,
    HttpsUrl,
    IpAddress,
    NodeName,
    Port,
    PrivateKey,
    PrivateKeyFile,
    ResolvConf,
    RuntimeEndpoint,
    SshHost,
    SubjectAltName,
    UnitFile,
    fail,
)
from components.settings.download import DownloadFields
from components.settings.durations import parse_duration
from components.settings.node_kubelet import merged, node_kubelet_model
from components.settings.node_labels import LabelKey, LabelValue, Taint, unique_taints
from components.settings.preflight_checks import PreflightCheck
from components.settings.removal import RemovalSettings
from components.settings.renewal_approver import RenewalApproverSettings

NAMESPACE = "kubelet-bootstrap"


# --- objects --------------------------------------------------------------------------------


class Bastion(_Strict):
    host: BastionHost
    port: Port = 22
    user: str | None = None
    host_key: HostKey | None = None


class SshSettings(_Strict):
    user: str = "root"
    port: Port = 22
    private_key_file: PrivateKeyFile = None
    private_key: PrivateKey | None = None
    host_key: HostKey | None = None
    bastion: Bastion | None = None
    become: Literal["sudo"] | None = None
    """How a user other than root runs the scripts, which all need root."""
    accept_unverified_host_keys: bool = False
    """Connect to nodes (and the bastion) whose host key is not pinned, trusting any: only
    for a lab. Without it, a node without `hostKey` (its own or `ssh.hostKey`) is refused."""

    @model_validator(mode="after")
    def _one_key(self) -> SshSettings:
        if (self.private_key is None) == (self.private_key_file is None):
            raise fail("set exactly one of privateKeyFile and privateKey (a secret)")
        return self

    @model_validator(mode="after")
    def _root(self) -> SshSettings:
        if self.user != "root" and self.become is None:
            raise fail(
                f"user {self.user!r} is not root, and every script on the nodes needs root: "
                f"set ssh.become: sudo (passwordless sudo for {self.user!r})"
            )
        return self

    @property
    def key(self) -> SecretStr:
        """The private key, from whichever of the two keys held it."""
        return self.private_key or self.private_key_file  # type: ignore[return-value]


class ClusterSettings(_Strict):
    dns_domain: DnsName = "cluster.local"
    dns_service_ip: IpAddress = Field(alias="dnsServiceIP")


class KubeletDownload(_Strict, DownloadFields):
    """`kubelet.download`: the kubelet binary each node fetches and verifies."""


class KubeletSettings(_Strict):
    """Kubelet settings; defaults are the tutorial's values, brought to current Kubernetes."""

    binary: AbsolutePath = "/opt/k8s/bin/kubelet"
    download: KubeletDownload | None = None
    """Fetch `binary` on each node instead of expecting it there (`node.kubelet_binary`)."""
    root_dir: AbsolutePath = "/data/k8s/k8s/kubelet"
    cert_dir: AbsolutePath = "/etc/kubernetes/cert"
    ca_file: AbsolutePath = "/etc/kubernetes/cert/ca.pem"
    bootstrap_kubeconfig: AbsolutePath = "/etc/kubernetes/kubelet-bootstrap.kubeconfig"
    kubeconfig: AbsolutePath = "/etc/kubernetes/kubelet.kubeconfig"
    config_file: AbsolutePath = "/etc/kubernetes/kubelet-config.yaml"
    unit_file: UnitFile = "/etc/systemd/system/kubelet.service"
    container_runtime_endpoint: RuntimeEndpoint = "unix:///run/containerd/containerd.sock"
    cgroup_driver: Literal["systemd", "cgroupfs"] = "systemd"
    max_pods: int = Field(220, ge=1, le=2000)
    pod_pids_limit: int = Field(4096, ge=-1)
    event_record_qps: int = Field(0, ge=0, alias="eventRecordQPS")
    kube_api_qps: int = Field(1000, ge=1, alias="kubeAPIQPS")
    kube_api_burst: int = Field(2000, ge=1, alias="kubeAPIBurst")
    registry_pull_qps: int = Field(0, ge=0, alias="registryPullQPS")
    fail_swap_on: bool = True
    port: Port = 10250
    verbosity: int = Field(2, ge=0, le=10)
    healthz_timeout_seconds: int = Field(180, ge=10, le=3600)
    settle_seconds: int = Field(10, ge=0, le=600)
    """How long a (re)started kubelet must stay up, healthy and holding its client certificate,
    before its start passes the gate: it answers healthz before it can exit on a fatal error."""
    resolv_conf: ResolvConf = "auto"
    """The resolv.conf whose servers pods get, or `auto`: on a node whose /etc/resolv.conf is
    systemd-resolved's stub (127.0.0.53, which loops inside a pod) the file with its upstream
    servers, as kubeadm does; else /etc/resolv.conf.

    Which one is a fact of the node, known only there, while the program renders and hashes
    the config before reaching it (the hash restarts the kubelet; preview shows it). So with
    `auto` the config names one fixed link on every node, and the prepare script points it at
    the file that node needs: the config stays the same bytes for every node and every run.
    """
    extra_config: dict[str, Any] = Field(default_factory=dict)

    @property
    def unit_name(self) -> str:
        """What systemctl and journalctl call the unit: its file name."""
        return PurePosixPath(self.unit_file).name


NodeKubeletSettings = node_kubelet_model(KubeletSettings, _Strict)


class BootstrapTokenSettings(_Strict):
    ttl: Duration = "24h"
    remove_kubeconfig: bool = False
    """Remove the bootstrap kubeconfig from a node once its kubelet has its client certificate."""

    @property
    def ttl_seconds(self) -> int:
        return parse_duration(self.ttl)  # type: ignore[return-value]


class CsrApprovalSettings(_Strict):
    timeout_seconds: int = Field(900, ge=30, le=7200)


class VerificationSettings(_Strict):
    enabled: bool = True
    timeout_seconds: int = Field(600, ge=10, le=7200)


class RbacSettings(_Strict):
    """The cluster-wide RBAC of TLS bootstrapping, which every kubelet needs to renew."""

    delete_on_destroy: bool = False
    adopt_existing: bool = False
    """Take over objects that already exist instead of failing on them (AlreadyExists)."""


class RolloutSettings(_Strict):
    batch_size: BatchSize | None = None
    """Restart running kubelets this many nodes (or this share of them) at a time."""


class PreflightSettings(_Strict):
    skip: list[PreflightCheck] = Field(default_factory=list)
    """Checks not to run, by name (`settings.preflight_checks.CHECKS`)."""


class NodeSettings(_Strict):
    name: NodeName
    address: IpAddress
    ssh_host: SshHost | None = None
    host_key: HostKey | None = None
    """This node's SSH host key; each machine has its own, so this is the one to set."""
    extra_sans: list[SubjectAltName] = Field(default_factory=list, alias="extraSANs")
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    taints: list[Taint] = Field(default_factory=list)
    kubelet: NodeKubeletSettings | None = None  # type: ignore[valid-type]
    """What this node's kubelet does differently (`components.settings.node_kubelet`)."""

    _unique_taints = field_validator("taints")(unique_taints)
    decommissioned: bool = False
    """The machine is gone: its Node object and token are deleted, nothing connects to it."""

    @property
    def ssh_target(self) -> str:
        return self.ssh_host or self.address


class Settings(_Strict):
    """Everything one stack (one cluster) needs, checked."""

    api_server: HttpsUrl
    admin_api_server: HttpsUrl | None = None
    """Where the admin kubeconfig reaches the API server, when not at `api_server`."""
    ca_cert_file: CaCertificateFile
    kubeconfig: SecretStr
    ssh: SshSettings
    cluster: ClusterSettings
    kubelet: KubeletSettings = KubeletSettings()
    bootstrap_token: BootstrapTokenSettings = BootstrapTokenSettings()
    csr_approval: CsrApprovalSettings = CsrApprovalSettings()
    verification: VerificationSettings = VerificationSettings()
    rbac: RbacSettings = RbacSettings()
    rollout: RolloutSettings = RolloutSettings()
    preflight: PreflightSettings = PreflightSettings()
    removal: RemovalSettings = RemovalSettings()
    renewal_approver: RenewalApproverSettings = RenewalApproverSettings()
    nodes: list[NodeSettings] = Field(min_length=1)

    def kubelet_for(self, node: NodeSettings) -> KubeletSettings:
        """The node's kubelet settings: the global ones with the node's own over them."""
        return merged(self.kubelet, node.kubelet)  # type: ignore[no-any-return]

    @field_validator("kubeconfig")
    @classmethod
    def _same_cluster(cls, kubeconfig: SecretStr, info: ValidationInfo) -> SecretStr:
        """The admin kubeconfig's current cluster is the one the nodes join (when it and the
        settings it is compared with are valid: a bad one is reported on its own)."""
        compared = {"api_server", "admin_api_server", "ca_cert_file"}
        if not kubeconfig.get_secret_value() or not compared <= info.data.keys():
            return kubeconfig
        problem = admin_cluster_problem(
            kubeconfig.get_secret_value(),
            info.data["api_server"],
            info.data["ca_cert_file"].pem,
            info.data["admin_api_server"],
        )
        if problem:
            raise fail(problem)
        return kubeconfig


# --- loading --------------------------------------------------------------------------------
