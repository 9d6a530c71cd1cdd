"""Tests of `settings.kubelet_types`: values checked against the Go types of the field list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.settings.kubelet_fields import FieldCatalog, default_catalog
from components.settings.kubelet_types import type_errors

CATALOG = default_catalog()


def errors(document: dict[str, object], catalog: FieldCatalog = CATALOG) -> list[str]:
    return type_errors(catalog, document)


@pytest.mark.parametrize(
    "value", ["0", "5m0s", "1h", "30s", "1.5h", "300ms", "1h30m", "-1m", "2us", "2µs", ".5s", "1.h"]
)
def test_go_durations_are_accepted(value: str) -> None:
    assert errors({"shutdownGracePeriod": value}) == []


@pytest.mark.parametrize(
    "value", ["", "30", "5 m", "1d", "m", "1hh", "5M", "1h 30m", ".s", "-", 30, 1.5, True]
)
def test_anything_else_is_not_a_duration(value: object) -> None:
    [error] = errors({"shutdownGracePeriod": value})
    assert error.startswith("shutdownGracePeriod: ")
    assert error.endswith(" is not a duration like 5m0s, 1h or 30s (metav1.Duration)")


@pytest.mark.parametrize(
    "value", ["100Mi", "1.5Gi", "2", "500m", "1e3", "0.5", "1Ki", "+1", "1E", "4k", 2, 1.5]
)
def test_resource_quantities_are_accepted(value: object) -> None:
    assert errors({"reservedMemory": [{"numaNode": 0, "limits": {"memory": value}}]}) == []


@pytest.mark.parametrize("value", ["lots", "1.5 Gi", "1GB", "Mi", "", "1iB", "1K", True])
def test_anything_else_is_not_a_quantity(value: object) -> None:
    [error] = errors({"reservedMemory": [{"numaNode": 0, "limits": {"memory": value}}]})
    assert error.startswith("reservedMemory[0].limits.memory: ")
    assert error.endswith("is not a resource quantity like 100Mi, 1.5Gi or 2 (resource.Quantity)")


@pytest.mark.parametrize(
    ("value", "fits"),
    [(2**31 - 1, True), (-(2**31), True), (2**31, False), (-(2**31) - 1, False), (0, True)],
)
def test_int32_holds_exactly_its_range(value: int, fits: bool) -> None:
    assert (errors({"podsPerCore": value}) == []) is fits


@pytest.mark.parametrize(
    ("value", "fits"), [(2**63 - 1, True), (-(2**63), True), (2**63, False), (-(2**63) - 1, False)]
)
def test_int64_holds_exactly_its_range(value: int, fits: bool) -> None:
    assert (errors({"maxOpenFiles": value}) == []) is fits


def test_a_float64_takes_integers_and_floats_but_not_booleans() -> None:
    assert errors({"memoryThrottlingFactor": 1}) == []
    assert errors({"memoryThrottlingFactor": 0.9}) == []
    assert errors({"memoryThrottlingFactor": False}) == [
        "memoryThrottlingFactor: false is not a number (float64)"
    ]


def test_named_string_types_and_pointers_take_strings() -> None:
    assert errors({"authorization": {"mode": "Webhook"}, "resolvConf": "/etc/resolv.conf"}) == []
    assert errors({"authorization": {"mode": 1}}) == [
        "authorization.mode: 1 is not a string (KubeletAuthorizationMode); quote it: '1'"
    ]


def test_unknown_fields_are_left_to_the_field_check() -> None:
    assert errors({"maxpods": "many", "authentication": {"anonymus": 1}}) == []


def test_every_error_of_a_document_is_reported_in_document_order() -> None:
    document = {
        "registerWithTaints": [{"key": "a"}, "b=c:NoSchedule"],
        "staticPodURLHeader": {"X-A": ["ok", 2], "X-B": "no"},
        "featureGates": {"A": True, "B": "true"},
    }
    assert errors(document) == [
        "registerWithTaints[1]: 'b=c:NoSchedule' is not a mapping (v1.Taint)",
        "staticPodURLHeader.X-A[1]: 2 is not a string; quote it: '2'",
        "staticPodURLHeader.X-B: 'no' is not a list of strings ([]string)",
        "featureGates.B: 'true' is not true or false (bool)",
    ]


def test_a_map_key_must_be_a_string() -> None:
    assert errors({"evictionHard": {1: "100Mi"}}) == [
        "evictionHard: key 1 is not a string (map[string]string)"
    ]


def test_every_go_type_of_the_bundled_list_is_one_the_check_knows() -> None:
    """A Go type the check does not know raises; no field of the bundled list may do that."""
    for struct, fields in CATALOG.structs.items():
        for name, go_type in fields.items():
            [error] = type_errors(CATALOG, {name: object()}, root=struct)
            assert error.startswith(f"{name}: "), (struct, go_type, error)


def test_a_go_type_the_check_does_not_know_is_a_programming_error(tmp_path: Path) -> None:
    catalog_file = tmp_path / "fields.json"
    catalog_file.write_text(json.dumps({"source": "test", "structs": {"Root": {"c": "chan int"}}}))
    with pytest.raises(ValueError, match="chan int"):
        type_errors(FieldCatalog.load(catalog_file), {"c": 1}, root="Root")
