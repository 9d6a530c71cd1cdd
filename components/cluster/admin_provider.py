"""`AdminProvider`: the base of the dynamic providers that act in the cluster as its admin.

The admin credential is read when a provider is called, not stored with its resources: the
engine configures every Python dynamic provider with the stack's whole configuration,
namespaced and decrypted (`Target.GetPackageConfig`, pulumi/pkg resource/deploy/target.go;
`configure` in the SDK's `pulumi/dynamic/__main__.py`), on up, preview, refresh and destroy
alike. So a rotated or revoked credential is the one refresh, removal and destroy use, and
the state holds no copy of it. Resources written by 0.2.0 and earlier stored it as an input:
`diff` reports that copy as a change, and the update writes the state without it.

Pickled by dill (by reference) into every resource's state: no side effects, clients are
imported inside the methods.
"""

from __future__ import annotations

import os
from typing import Any

from pulumi.dynamic import ConfigureRequest, ResourceProvider

STORED = "kubeconfig"
"""The input under which 0.2.0 and earlier stored the credential."""


class AdminProvider(ResourceProvider):
    """Holds the admin kubeconfig of the stack's configuration, once the engine configured it."""

    _kubeconfig: str | None = None
    _problem: str = "the provider was not configured with the stack's configuration"

    def configure(self, req: ConfigureRequest) -> None:
        from components.settings.admin_kubeconfig import CONFIG_KEY, configured_kubeconfig

        # Read here, raised when used: a diff needs no credential, and a problem here would
        # fail every dynamic resource without saying which one.
        try:
            self._kubeconfig = configured_kubeconfig(
                {CONFIG_KEY: req.config.get(CONFIG_KEY)}, os.environ
            )
        except ValueError as error:
            self._kubeconfig, self._problem = None, str(error)

    def admin_client(self) -> Any:
        """A `kubernetes.client.ApiClient` with the configured admin credential."""
        from components.cluster.kube_client import api_client

        if self._kubeconfig is None:
            raise RuntimeError(self._problem)
        return api_client(self._kubeconfig)


def stored_credential(olds: dict[str, Any]) -> list[str]:
    """`[STORED]` when the state holds a copy of the credential, for `diff` to report."""
    return [STORED] if olds.get(STORED) is not None else []


def without_credential(props: dict[str, Any]) -> dict[str, Any]:
    """`props` without a stored copy of the credential: what outputs and state keep."""
    return {key: value for key, value in props.items() if key != STORED}
