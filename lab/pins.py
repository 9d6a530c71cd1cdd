"""Every upstream version the lab builds, in one place.

`make lab` rebuilds a binary only when a pin it uses (or our own source for it under lab/go/)
changed. Everything is built with the `go` command from modules the Go module proxy serves.
"""

from __future__ import annotations

PINS: dict[str, dict] = {
    # kube-apiserver, kube-controller-manager and the kubelet (inside the supported 1.31-1.35).
    "kubernetes": {
        "module": "k8s.io/kubernetes",
        "version": "v1.34.4",
        # k8s.io/kubernetes replaces its staging modules with ./staging; the lab requires the
        # published copies instead, which carry the same tree at v0.<minor>.<patch>.
        "staging_version": "v0.34.4",
    },
    "etcd": {"module": "go.etcd.io/etcd/server/v3", "version": "v3.6.16"},
    # The CLI. The Python SDK in requirements.txt is 3.272.0; the proxy serves pkg/v3 3.274.x
    # (not 3.272.0), and a newer CLI runs an older SDK.
    "pulumi": {
        "module": "github.com/pulumi/pulumi/pkg/v3",
        "sdk_module": "github.com/pulumi/pulumi/sdk/v3",
        "version": "v3.274.1",
    },
    # Provider plugins, each installed under the version its Python SDK in requirements.txt
    # asks for: the engine matches plugin versions exactly.
    "plugins": {
        # The proxy serves no tag of the provider module and no 4.34.x commit of it; this
        # commit (2026-01-15, the day before sdk/v4.25.0) is the newest it serves. It reports
        # its own version when asked, so the engine warns that it is not 4.34.2.
        "kubernetes": {
            "module": "github.com/pulumi/pulumi-kubernetes/provider/v4",
            "version": "v4.0.0-20260115033456-f47bc2d6f199",
            "sdk_module": "github.com/pulumi/pulumi-kubernetes/sdk/v4",
            "sdk_version": "v4.24.0",
            "reports": "4.25.0-alpha.f47bc2d6",
            "installs_as": "4.34.2",
        },
        # The proxy serves no version of github.com/pulumi/pulumi-command/provider (nor of
        # pulumi-go-provider, which it needs): a stand-in of ours, lab/go/providers.
        "command": {"installs_as": "1.2.1"},
        # The proxy serves no version of github.com/pulumi/pulumi-random/provider/v4 (nor of
        # the terraform-provider-random 3.x it bridges): a stand-in of ours, lab/go/providers.
        "random": {"installs_as": "4.21.4"},
    },
}
