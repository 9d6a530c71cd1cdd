"""Tests of components.settings.kubelet_fields: typos in KubeletConfiguration keys are caught."""

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.settings.kubelet_fields import (
    BUNDLED_FIELDS,
    LOGGING_FIELDS,
    FieldCatalog,
    UnknownField,
    default_catalog,
)

CATALOG = FieldCatalog.load(BUNDLED_FIELDS, LOGGING_FIELDS)
ROOT_FIELDS = sorted(CATALOG.structs["KubeletConfiguration"])

# Fields of 1.34 the program and its users rely on, with the Go type `types.go` gives them.
KNOWN_FIELDS = [
    ("KubeletConfiguration", "kind", "string"),
    ("KubeletConfiguration", "apiVersion", "string"),
    ("KubeletConfiguration", "maxPods", "int32"),
    ("KubeletConfiguration", "maxOpenFiles", "int64"),
    ("KubeletConfiguration", "podPidsLimit", "*int64"),
    ("KubeletConfiguration", "failSwapOn", "*bool"),
    ("KubeletConfiguration", "memoryThrottlingFactor", "*float64"),
    ("KubeletConfiguration", "resolvConf", "*string"),
    ("KubeletConfiguration", "shutdownGracePeriod", "metav1.Duration"),
    ("KubeletConfiguration", "clusterDNS", "[]string"),
    ("KubeletConfiguration", "evictionHard", "map[string]string"),
    ("KubeletConfiguration", "featureGates", "map[string]bool"),
    ("KubeletConfiguration", "staticPodURLHeader", "map[string][]string"),
    ("KubeletConfiguration", "reservedMemory", "[]MemoryReservation"),
    ("KubeletConfiguration", "registerWithTaints", "[]v1.Taint"),
    ("KubeletConfiguration", "authentication", "KubeletAuthentication"),
    ("KubeletConfiguration", "authorization", "KubeletAuthorization"),
    ("KubeletAuthentication", "x509", "KubeletX509Authentication"),
    ("KubeletX509Authentication", "clientCAFile", "string"),
    ("KubeletAuthorization", "mode", "KubeletAuthorizationMode"),
    ("MemoryReservation", "limits", "v1.ResourceList"),
]


def test_bundled_list_is_well_formed() -> None:
    """The project's own copy is the source of truth: it must read as a field list."""
    data = json.loads(BUNDLED_FIELDS.read_text(encoding="utf-8"))
    assert set(data) == {"source", "structs"}
    assert "Kubernetes 1.34" in data["source"]
    assert "KubeletConfiguration" in data["structs"]
    for struct, fields in data["structs"].items():
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", struct), struct
        assert fields, f"{struct} has no fields"
        for name, go_type in fields.items():
            assert re.fullmatch(r"[a-z][A-Za-z0-9]*", name), (struct, name)
            assert re.fullmatch(r"[*\[\]A-Za-z0-9.]+", go_type), (struct, name, go_type)


def test_every_struct_of_the_list_is_reached_from_the_root() -> None:
    reached, todo = set(), ["KubeletConfiguration"]
    while todo:
        struct = todo.pop()
        reached.add(struct)
        for go_type in CATALOG.structs[struct].values():
            named = re.split(r"[*\[\]]", go_type)[-1]
            if named in CATALOG.structs and named not in reached:
                todo.append(named)
    assert reached == set(CATALOG.structs)


@pytest.mark.parametrize(("struct", "name", "go_type"), KNOWN_FIELDS)
def test_bundled_list_has_the_known_fields_with_their_go_types(
    struct: str, name: str, go_type: str
) -> None:
    assert CATALOG.structs[struct][name] == go_type


def test_load_reads_a_fresh_catalog_and_default_is_cached() -> None:
    assert FieldCatalog.load() is not FieldCatalog.load()
    assert default_catalog() is default_catalog()
    assert default_catalog() == CATALOG
    assert "Kubernetes 1.34" in CATALOG.source
    # The logging structs come with it, and only they: the kubelet's own file is unchanged.
    assert set(CATALOG.structs) - set(FieldCatalog.load().structs) == {
        "logsapi.LoggingConfiguration",
        "FormatOptions",
        "TextOptions",
        "JSONOptions",
        "VModuleItem",
    }


def test_kind_and_api_version_are_root_fields() -> None:
    document = {
        "kind": "KubeletConfiguration",
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
    }
    assert {"kind", "apiVersion"} <= set(ROOT_FIELDS)
    assert CATALOG.unknown_fields(document) == []


def test_realistic_config_with_nested_structs_and_free_form_maps_passes() -> None:
    document = {
        "kind": "KubeletConfiguration",
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "address": "172.27.137.240",
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True, "cacheTTL": "2m0s"},
            "x509": {"clientCAFile": "/etc/kubernetes/cert/ca.pem"},
        },
        "authorization": {
            "mode": "Webhook",
            "webhook": {"cacheAuthorizedTTL": "5m0s", "cacheUnauthorizedTTL": "30s"},
        },
        "featureGates": {"Anything": True, "RotateKubeletServerCertificate": True},
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "10%"},
        "maxPods": 220,
        "reservedMemory": [{"numaNode": 0, "limits": {"memory": "1Gi"}}],
        "shutdownGracePeriodByPodPriority": [
            {"priority": 100000, "shutdownGracePeriodSeconds": 10},
        ],
        "logging": {"format": "json", "flushFrequency": "5s", "options": {"json": {}}},
        "registerWithTaints": [{"key": "k", "effect": "NoSchedule", "anyKey": 1}],
    }
    assert CATALOG.unknown_fields(document) == []


def test_root_typo_is_reported_with_case_insensitive_suggestion() -> None:
    [unknown] = CATALOG.unknown_fields({"maxpods": 220, "podPidsLimit": 4096})
    assert unknown == UnknownField(path="maxpods", key="maxpods", suggestion="maxPods")
    assert unknown.message == (
        "maxpods: unknown KubeletConfiguration field; did you mean 'maxPods'?"
    )


def test_root_misspelling_suggests_the_closest_field() -> None:
    [unknown] = CATALOG.unknown_fields({"readOnlyPrt": 0})
    assert unknown.suggestion == "readOnlyPort"


def test_nested_typo_reports_dotted_path_and_suggestion() -> None:
    document = {"authentication": {"webhook": {"enabled": True, "cacheTTl": "2m0s"}}}
    [unknown] = CATALOG.unknown_fields(document)
    assert unknown.path == "authentication.webhook.cacheTTl"
    assert unknown.key == "cacheTTl"
    assert unknown.suggestion == "cacheTTL"
    assert unknown.message == (
        "authentication.webhook.cacheTTl: unknown KubeletConfiguration field;"
        " did you mean 'cacheTTL'?"
    )


@pytest.mark.parametrize("key", ["zzzzqqq", "networkPlugin", "imagePullPolicy"])
def test_unrelated_key_gets_no_suggestion(key: str) -> None:
    [unknown] = CATALOG.unknown_fields({key: 1})
    assert unknown.suggestion is None
    assert unknown.message == f"{key}: unknown KubeletConfiguration field"


def test_lists_of_structs_are_checked_per_element() -> None:
    assert CATALOG.structs["KubeletConfiguration"]["reservedMemory"] == "[]MemoryReservation"
    document = {
        "reservedMemory": [
            {"numaNode": 0, "limits": {"memory": "1Gi"}},
            {"numaNod": 1, "limits": {"memory": "1Gi"}},
        ]
    }
    assert CATALOG.unknown_fields(document) == [
        UnknownField(path="reservedMemory[1].numaNod", key="numaNod", suggestion="numaNode")
    ]


def test_findings_come_in_document_order_and_unknown_subtrees_are_not_entered() -> None:
    document = {
        "authentcation": {"whatever": 1},
        "authorization": {"mod": "Webhook"},
        "maxPods": 110,
        "zzzzqqq": {"alsoUnknown": 2},
    }
    assert [u.path for u in CATALOG.unknown_fields(document)] == [
        "authentcation",
        "authorization.mod",
        "zzzzqqq",
    ]
    assert [u.suggestion for u in CATALOG.unknown_fields(document)] == [
        "authentication",
        "mode",
        None,
    ]


def test_non_mapping_where_a_struct_belongs_is_left_to_type_checking() -> None:
    document = {
        "authentication": "yes",
        "authorization": None,
        "reservedMemory": {"numaNode": 0},
        "shutdownGracePeriodByPodPriority": ["not a struct"],
    }
    assert CATALOG.unknown_fields(document) == []


def test_maps_of_structs_are_checked_per_value(tmp_path: Path) -> None:
    # The 1.34 catalog has no map whose values are structs, so this uses a made-up one.
    assert not [
        (struct, name)
        for struct, fields in CATALOG.structs.items()
        for name, go_type in fields.items()
        if go_type.lstrip("*").startswith("map[")
        and go_type.rsplit("]", 1)[1].lstrip("*") in CATALOG.structs
    ]
    catalog_file = tmp_path / "fields.json"
    catalog_file.write_text(
        json.dumps(
            {
                "source": "test",
                "structs": {
                    "Root": {
                        "pools": "map[string]*Pool",
                        "groups": "map[string][]Pool",
                    },
                    "Pool": {"size": "int32"},
                },
            }
        )
    )
    catalog = FieldCatalog.load(catalog_file)
    document = {
        "pools": {"a": {"size": 1}, "b": {"sise": 2}},
        "groups": {"g": [{"size": 1}, {"Size": 2}]},
    }
    assert catalog.unknown_fields(document, root="Root") == [
        UnknownField("pools.b.sise", "sise", "size", root="Root"),
        UnknownField("groups.g[1].Size", "Size", "size", root="Root"),
    ]
    assert catalog.unknown_fields(document, root="Root")[0].message == (
        "pools.b.sise: unknown Root field; did you mean 'size'?"
    )


def test_unknown_root_struct_is_rejected() -> None:
    with pytest.raises(ValueError, match="NoSuchStruct"):
        CATALOG.unknown_fields({}, root="NoSuchStruct")


@given(st.lists(st.sampled_from(ROOT_FIELDS), unique=True))
def test_every_root_field_is_accepted(names: list[str]) -> None:
    assert CATALOG.unknown_fields(dict.fromkeys(names)) == []


@given(
    known=st.lists(st.sampled_from(ROOT_FIELDS), unique=True),
    key=st.text().filter(lambda text: text not in ROOT_FIELDS),
    value=st.none() | st.integers() | st.text() | st.dictionaries(st.text(), st.integers()),
)
def test_any_other_root_key_is_reported_exactly_once(
    known: list[str], key: str, value: object
) -> None:
    document = {**dict.fromkeys(known), key: value}
    [unknown] = CATALOG.unknown_fields(document)
    assert (unknown.path, unknown.key) == (key, key)
    assert unknown.suggestion is None or unknown.suggestion in ROOT_FIELDS
