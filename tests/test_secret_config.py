"""A value set with `--secret` stays secret whatever its key (issue 14, item 6): a kubelet
download URL holding a token is marked secret in every input that holds it, and nothing else
is (`components.settings.secret_config`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from offline.engine import Recording, run_program
from tests.factories import FIXED_CLOCK

TOKEN_URL = "https://dl.example/kubelet?token=s3cr3t-download-token"
DOWNLOAD = {"url": TOKEN_URL, "sha256": "c" * 64}


def holding(recording: Recording, text: str) -> list[tuple[str, str]]:
    """Each (resource, input) whose value holds `text`."""
    return [
        (r.name, key)
        for r in recording.resources
        for key, value in r.inputs.items()
        if text in repr(value)
    ]


def test_a_url_set_with_secret_is_secret_in_every_input_that_holds_it(
    config: Callable[..., dict[str, Any]],
) -> None:
    recording = run_program(
        config(nodes=2, kubelet={"download": DOWNLOAD}),
        "test",
        clock=FIXED_CLOCK,
        secret_keys=["kubelet-bootstrap:kubelet"],
    )

    found = holding(recording, "s3cr3t-download-token")
    assert {name for name, _ in found} >= {"node-0-kubelet-binary", "node-1-kubelet-binary"}
    for name, key in found:
        assert key in recording.named(name).secret_paths, (name, key)
    # What does not hold it stays readable in a preview.
    assert "create" not in recording.named("node-0-kubelet-unit").secret_paths


def test_the_same_url_not_set_as_secret_stays_plain(config: Callable[..., dict[str, Any]]) -> None:
    recording = run_program(
        config(nodes=1, kubelet={"download": DOWNLOAD}), "test", clock=FIXED_CLOCK
    )

    assert "create" not in recording.named("node-0-kubelet-binary").secret_paths
