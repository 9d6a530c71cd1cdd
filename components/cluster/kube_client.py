"""A Kubernetes API client from admin kubeconfig text, as the dynamic providers receive it."""

from __future__ import annotations

import threading
from typing import Any

_LOADING = threading.Lock()
"""Held while a kubeconfig is loaded. The kubernetes client writes embedded certificates to
temp files kept in a process-wide cache by content, and publishes a file's name before it
writes the bytes (`kube_config._create_temp_file_with_content`): a second thread of the one
dynamic-provider process, loading the same certificate, would get the name of a file still
empty and fail its TLS handshake ("[SSL] PEM lib")."""


def api_client(kubeconfig: str) -> Any:
    """A `kubernetes.client.ApiClient` for `kubeconfig`, imported here for the pickled providers.

    Safe to call from many threads at once (see `_LOADING`). urllib3's own retries are off: it
    would send a request that timed out three more times, each with the whole timeout, so a
    request's `_request_timeout` would not bound it.
    """
    import yaml
    from kubernetes import client, config

    try:
        document = yaml.safe_load(kubeconfig)
    except yaml.YAMLError as error:
        # PyYAML quotes the offending line, which may hold the token: say only where it is.
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ValueError(f"the admin kubeconfig is not valid YAML{where}") from None
    configuration = client.Configuration()
    with _LOADING:
        config.load_kube_config_from_dict(document, client_configuration=configuration)
    configuration.retries = False
    return client.ApiClient(configuration)
