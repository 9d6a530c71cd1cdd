"""`renewalApprover`: the service that approves kubelet serving-certificate renewals as they come.

A kubelet asks for a new serving certificate at 70 to 90 % of its current one's lifetime, and
nothing in Kubernetes approves it. The stack installs an approver on the hosts named here (the
masters, in the tutorial's world): a static binary with the program's policy, its own
least-privilege identity, and the stack's inventory of nodes in a file the stack keeps current.
Without hosts, or with `enabled: false`, there is none (and one installed before is removed).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from components.settings.base import StrictSettings
from components.settings.checks import HostKey, NodeName, SshHost, fail


class ApproverHost(StrictSettings):
    """A host that runs the approver: reached over SSH as the nodes are (`ssh`)."""

    name: NodeName
    """What the stack calls the host: names its resources; the host's own name is not needed."""
    ssh_host: SshHost
    host_key: HostKey | None = None

    @property
    def ssh_target(self) -> str:
        return self.ssh_host


class RenewalApproverSettings(StrictSettings):
    enabled: bool = True
    """false removes the approver from every host, as dropping the hosts does."""
    hosts: list[ApproverHost] = Field(default_factory=list)
    health_port: int = Field(10271, ge=1024, le=65535)
    """Where /healthz answers, on the host's loopback only (not a privileged port: the service
    runs without capabilities)."""
    arch: Literal["amd64", "arm64"] = "amd64"
    """The hosts' CPU architecture: the binary is built for it."""

    @model_validator(mode="after")
    def _unique_hosts(self) -> RenewalApproverSettings:
        names = [host.name for host in self.hosts]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise fail(f"host name(s) {', '.join(twice)} given more than once")
        return self

    @property
    def active_hosts(self) -> list[ApproverHost]:
        """The hosts the approver runs on now: none when it is turned off."""
        return list(self.hosts) if self.enabled else []
