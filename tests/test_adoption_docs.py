"""The manual's `pulumi import` recipe for RBAC that already exists names what the program makes.

The recipe is in docs/approval-and-security.md, "Adopting RBAC that already exists".

A cluster built by hand from the tutorial (or whose RBAC a destroy kept) already has the
objects; the recipe imports them under the program's own types, names, parent and provider,
so that the next `pulumi up` finds them in the state. A rename in the program must change the
recipe, or this test fails.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from offline.engine import Recording, Registration

RECIPE_PAGE = Path(__file__).resolve().parent.parent / "docs" / "approval-and-security.md"
STACK = "prod"
STACK_PREFIX = "pulumi:pulumi:Stack$"
RBAC_TYPES = (
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
)


def recipe_block(after: str, language: str) -> str:
    """The first fenced block of `language` after the line holding `after`."""
    text = RECIPE_PAGE.read_text()
    start = text.index(after)
    match = re.compile(rf"```{language}\n(.*?)```", re.DOTALL).search(text, start)
    assert match, f"no {language} block after {after!r} in {RECIPE_PAGE.name}"
    return match.group(1).replace("<stack>", STACK)


def engine_urn(registration: Registration) -> str:
    """The URN the Pulumi engine gives: the mocks put the root stack's type in front of the
    type of its children, the engine does not."""
    return registration.urn.replace(f"::{STACK_PREFIX}", "::", 1)


def test_the_import_file_names_each_rbac_object_as_the_program_does(
    config: Callable, run: Callable[..., Recording]
) -> None:
    recording = run(config(nodes=1), stack=STACK)
    imports = json.loads(recipe_block("rbac-import.json", "json"))
    by_name = {r.name: r for r in recording.resources}
    table = imports["nameTable"]
    assert table == {
        "cluster": engine_urn(by_name["cluster"]),
        "bootstrap-rbac": engine_urn(by_name["bootstrap-rbac"]),
    }
    rbac = [r for r in recording.resources if r.type in RBAC_TYPES]
    assert len(rbac) == 5
    assert sorted((e["type"], e["name"]) for e in imports["resources"]) == sorted(
        (r.type, r.name) for r in rbac
    )
    for entry in imports["resources"]:
        registration = by_name[entry["name"]]
        assert entry["id"] == registration.inputs["metadata"]["name"]
        assert registration.parent.endswith(f"::{entry['parent']}")
        assert table[entry["parent"]] == engine_urn(by_name[entry["parent"]])
        assert registration.provider.split("::")[-2] == entry["provider"]
        assert set(entry) == {"type", "name", "id", "parent", "provider"}


def test_the_targeted_up_before_it_names_the_provider_and_the_component(
    config: Callable, run: Callable[..., Recording]
) -> None:
    recording = run(config(nodes=1), stack=STACK)
    commands = recipe_block("rbac-import.json", "sh")
    targets = re.findall(r"--target '([^']+)'", commands)
    assert sorted(targets) == sorted(
        engine_urn(recording.named(name)) for name in ("cluster", "bootstrap-rbac")
    )
    assert "pulumi import --file rbac-import.json --protect=false" in commands
