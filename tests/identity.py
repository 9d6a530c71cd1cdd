"""The identity every existing stack holds its resources by, for the golden tests.

A resource's URN (`urn:pulumi:<stack>::<project>::<parent types$type>::<name>`) is how a stack
finds it again: a renamed or re-parented resource is created anew and the old one deleted,
which for this program drains nodes and deletes live Nodes. An alias keeps the old URN; this
module computes the URNs a registration answers to, its own and its aliases' (a child
inherits each alias of its parents, as the engine does), and the dynamic providers' pickles.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import dill

from offline.engine import Registration

DATA = Path(__file__).resolve().parent / "data"
GOLDEN_URNS = DATA / "golden-urns.json"
PICKLED_PROVIDERS = DATA / "pickled-providers.json"
STACK = "golden"
PROJECT = "kubelet-bootstrap"
STACK_TYPE = "pulumi:pulumi:Stack"


def urn(name: str, type_: str, parent: str) -> str:
    """A resource's URN as the engine makes it under `parent` (the stack's URN, or another
    resource's): the stack's own type is left out, every other parent's type chain kept."""
    chain = parent.split("::")[2]
    qualified = type_ if chain == STACK_TYPE else f"{chain}${type_}"
    return f"urn:pulumi:{STACK}::{PROJECT}::{qualified}::{name}"


def engine_urns(resources: list[Registration], stack_urn: str) -> dict[str, str]:
    """Each registration's URN as the engine makes it, by the URN the mocks gave it (theirs
    keep only the parent's last type)."""
    by_urn = {r.urn: r for r in resources}
    made: dict[str, str] = {}

    def made_for(resource: Registration) -> str:
        if resource.urn not in made:
            parent = by_urn.get(resource.parent)
            made[resource.urn] = urn(
                resource.name, resource.type, made_for(parent) if parent else stack_urn
            )
        return made[resource.urn]

    for resource in resources:
        made_for(resource)
    return made


def answers_to(resources: list[Registration], stack_urn: str) -> dict[str, str]:
    """Every engine URN some registration answers to (its own, its aliases', those inherited
    from its parents' aliases) -> its engine URN now."""
    by_urn = {r.urn: r for r in resources}
    engine = engine_urns(resources, stack_urn)
    known: dict[str, set[str]] = {}

    def old_urns(resource: Registration) -> set[str]:
        if resource.urn in known:
            return known[resource.urn]
        parent = by_urn.get(resource.parent)
        parent_urn = engine[parent.urn] if parent else stack_urn
        parents = {parent_urn} | (old_urns(parent) if parent else set())
        found = {urn(resource.name, resource.type, p) for p in parents}
        for alias in resource.aliases:
            if "urn" in alias:
                found.add(alias["urn"])
                continue
            spec = alias.get("spec", {})
            alias_parent = (
                stack_urn if spec.get("noParent") else spec.get("parentUrn") or parent_urn
            )
            found.add(
                urn(spec.get("name", resource.name), spec.get("type", resource.type), alias_parent)
            )
        known[resource.urn] = found
        return found

    return {old: engine[r.urn] for r in resources for old in old_urns(r)}


def golden() -> dict[str, str]:
    return json.loads(GOLDEN_URNS.read_text())


def providers_of(resources: list[Registration]) -> dict[str, str]:
    """Each dynamic resource's name -> its pickled provider, as the state keeps it."""
    return {r.name: r.inputs["__provider"] for r in resources if "__provider" in r.inputs}


def unpickled(blob: str) -> Any:
    """A provider from its pickle, as the dynamic provider process reads it from the state."""
    return dill.loads(base64.b64decode(blob))


def write(data: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
