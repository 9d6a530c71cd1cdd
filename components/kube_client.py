"""A Kubernetes API client from admin kubeconfig text, as the dynamic providers receive it."""

from __future__ import annotations

from typing import Any


def api_client(kubeconfig: str) -> Any:
    """A `kubernetes.client.ApiClient` for `kubeconfig`, imported here for the pickled providers."""
    import yaml
    from kubernetes import client, config

    configuration = client.Configuration()
    config.load_kube_config_from_dict(
        yaml.safe_load(kubeconfig), client_configuration=configuration
    )
    return client.ApiClient(configuration)
