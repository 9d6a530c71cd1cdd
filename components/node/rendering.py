"""Every file and script that lands on a node, rendered from the templates in `templates/`.

Pure functions of validated settings: the same settings always give the same bytes, so a
re-run of `pulumi up` diffs nothing and `pulumi preview` shows exactly what a change touches.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import jinja2
import yaml

from components.settings.model import ClusterSettings, KubeletSettings, NodeSettings, Settings
from components.settings.node_kubelet import merge_mappings
from components.settings.node_labels import kubelet_labels

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"

HEADER = "Managed by kubelet-bootstrap (Pulumi); local changes are overwritten."

# Where the scripts keep, on each node, what they need to know from one run to the next.
NODE_STATE_DIR = "/var/lib/kubelet-bootstrap"

# Where a new version of a file the kubelet restarts for waits for the node's rollout batch,
# under its own path (templates/staging.sh.j2).
STAGED_DIR = f"{NODE_STATE_DIR}/staged"

# What the config names with `kubelet.resolvConf: auto`: a link the prepare script points at
# the resolv.conf that node needs (see KubeletSettings.resolv_conf).
AUTO_RESOLV_CONF = f"{NODE_STATE_DIR}/resolv.conf"

# CIS Kubernetes Benchmark 1.12, 4.2.12: only ECDHE suites with AES-GCM or CHACHA20.
TLS_CIPHER_SUITES = (
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
)


# libyaml's safe loader and dumper when PyYAML has them: the same bytes, seven times faster.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass(frozen=True)
class NodeFile:
    """One file for a node: what it is, where it goes and with which mode."""

    key: str
    path: str
    mode: str
    content: str

    @cached_property
    def sha256(self) -> str:
        """Computed once: the start script and the stack outputs both name it."""
        return sha256(self.content)


class RestartFile(Protocol):
    """What the start script names of a file the kubelet restarts for: a NodeFile, or a file
    the node fetched itself (`kubelet_binary.FetchedFile`)."""

    @property
    def path(self) -> str: ...

    @property
    def sha256(self) -> str: ...


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def render(template: str, **values: Any) -> str:
    return _environment().get_template(template).render(**values)


def bootstrap_kubeconfig(api_server: str, ca_pem: str, token: str) -> str:
    """What the tutorial's four `kubectl config` commands write for one node."""
    ca_data = base64.b64encode(ca_pem.encode()).decode()
    return render(
        "kubelet-bootstrap.kubeconfig.j2", api_server=api_server, ca_data=ca_data, token=token
    )


def kubelet_config(kubelet: KubeletSettings, cluster: ClusterSettings, node: NodeSettings) -> str:
    """The KubeletConfiguration: the tutorial's values, every CIS setting, then extraConfig."""
    document = merge_mappings(_kubelet_config_base(kubelet, cluster, node), kubelet.extra_config)
    dumped = yaml.dump(document, Dumper=_YAML_DUMPER, sort_keys=False, default_flow_style=False)
    return f"# {HEADER}\n" + dumped


def _kubelet_config_base(kubelet: Any, cluster: Any, node: Any) -> dict[str, Any]:
    base = render(
        "kubelet-config.yaml.j2",
        kubelet=kubelet,
        cluster=cluster,
        node=node,
        tls_cipher_suites=TLS_CIPHER_SUITES,
        auto_resolv_conf=AUTO_RESOLV_CONF,
    )
    return yaml.load(base, Loader=_YAML_LOADER)


class _StandIn:
    """Stands in for a settings object: each of its attributes is a mark naming itself."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> str:
        if attribute.startswith("_"):
            raise AttributeError(attribute)
        return _Mark(f"<{self._name}.{attribute}>")


class _Mark(str):
    """A stand-in's attribute; a list of objects (`node.taints`) is one object whose every
    attribute is that same mark."""

    def __iter__(self) -> Iterator[Any]:
        yield _Same(self)


class _Same:
    def __init__(self, mark: str) -> None:
        self._mark = mark

    def __getattr__(self, attribute: str) -> str:
        if attribute.startswith("_"):
            raise AttributeError(attribute)
        return self._mark


_MARK = re.compile(r"<(kubelet|cluster|node)\.(\w+)>")


@cache
def kubelet_config_sources() -> dict[str, tuple[str, ...]]:
    """Each KubeletConfiguration field the template fills from settings, with the settings'
    attributes it reads (`port` -> `("kubelet.port",)`).

    Found by rendering the template with stand-ins that name themselves, so a field added to
    the template is known here at once, without a second list to keep in step.
    """
    document = _kubelet_config_base(_StandIn("kubelet"), _StandIn("cluster"), _StandIn("node"))
    sources = {}
    for field, value in document.items():
        marks = _MARK.findall(json.dumps(value))
        if marks:
            sources[field] = tuple(sorted({f"{name}.{attribute}" for name, attribute in marks}))
    return sources


def kubelet_config_fixed_fields() -> dict[str, Any]:
    """The KubeletConfiguration fields the template sets the same whatever the settings say
    (`readOnlyPort: 0`), as `kubelet_config_sources` finds the others."""
    document = _kubelet_config_base(_StandIn("kubelet"), _StandIn("cluster"), _StandIn("node"))
    return {f: value for f, value in document.items() if not _MARK.findall(json.dumps(value))}


def kubelet_unit(kubelet: KubeletSettings, node: NodeSettings) -> str:
    """The unit; `--node-labels` holds the labels the kubelet may register its Node with."""
    labels = ",".join(f"{key}={value}" for key, value in kubelet_labels(node.labels).items())
    return render("kubelet.service.j2", kubelet=kubelet, node=node, labels=labels, header=HEADER)


def node_files(settings: Settings, node: NodeSettings) -> list[NodeFile]:
    """The node's files that are known before any resource exists, all of which restart it.

    The bootstrap kubeconfig is not among them: it holds the token, which exists only once
    the token resource does, and the kubelet reads it only until it has a client certificate.
    """
    kubelet = settings.kubelet_for(node)
    return [
        NodeFile("ca", kubelet.ca_file, "0644", settings.ca_cert_file.pem),
        NodeFile(
            "kubelet-config",
            kubelet.config_file,
            "0600",
            kubelet_config(kubelet, settings.cluster, node),
        ),
        NodeFile("kubelet-unit", kubelet.unit_file, "0600", kubelet_unit(kubelet, node)),
    ]


class Scripts(NamedTuple):
    """What one command runs on the node: when created, when updated, and when deleted
    (None: nothing, and no connection is opened)."""

    create: str | None
    update: str | None
    delete: str | None


def file_scripts(
    path: str, mode: str, owner: str, *, kubelet: KubeletSettings | None = None
) -> Scripts:
    """Install `path` from stdin, and remove it again when `owner` (the command's name)
    leaves the stack, unless that would undo what the stack did not make or just made.

    A replacement's `create` runs before the old resource's `delete`, with the same content
    when only the resource's name or parent changed; so each file has a record of its owners
    on the node, and whether it was there before the stack first wrote it. A file `kubelet`
    restarts for is staged for the node's rollout batch (`staged_path`) while that kubelet
    runs: started by the stack (its `started_record`), or by hand before the stack adopts it.
    """
    record = f"{NODE_STATE_DIR}/claims/files{path}"
    staging = staging_values(path, kubelet) if kubelet else {}
    values = {"path": path, "mode": mode, "owner": owner, "record": record, **staging}
    return Scripts(
        create=render("install-file.sh.j2", first=True, **values),
        update=render("install-file.sh.j2", first=False, **values),
        delete=render("remove-file.sh.j2", **values),
    )


def staging_values(path: str, kubelet: KubeletSettings) -> dict[str, str]:
    """What `templates/staging.sh.j2`'s `stage_or_install` needs to stage `path`."""
    return {
        "staged": staged_path(path),
        "started": started_record(kubelet),
        "unit": kubelet.unit_name,
    }


def staged_path(path: str) -> str:
    """Where a new version of `path` waits for its node's rollout batch."""
    return f"{STAGED_DIR}{path}"


def started_record(kubelet: KubeletSettings) -> str:
    """The node's record of the files its kubelet last started healthy with."""
    return f"{NODE_STATE_DIR}/started/{kubelet.unit_name}"


def prepare_node_script(kubelet: KubeletSettings) -> str:
    return render(
        "prepare-node.sh.j2",
        kubelet=kubelet,
        disable_swap=kubelet.fail_swap_on,
        resolv_link=AUTO_RESOLV_CONF if kubelet.resolv_conf == "auto" else None,
    )


def _kubelet_values(settings: Settings, node: NodeSettings) -> dict[str, Any]:
    kubelet = settings.kubelet_for(node)
    return {
        "kubelet": kubelet,
        "node": node,
        "api_server": settings.api_server,
        "started": started_record(kubelet),
        "staged_dir": STAGED_DIR,
        "identity": f"{NODE_STATE_DIR}/claims/identity/{kubelet.unit_name}",
    }


def kubelet_scripts(
    settings: Settings,
    node: NodeSettings,
    restart_files: Sequence[RestartFile],
    owner: str,
    *,
    bootstrap_token_id: str,
) -> Scripts:
    """Start the kubelet the first time, and stop it again when `owner` (the command's name)
    leaves the stack.

    The start names the paths of `restart_files`, never their sha256: a change of them
    restarts a running kubelet in its rollout batch (`restart_script`), not here. It names the
    bootstrap token id: a new token runs it again, and a kubelet still without its client
    certificate, which may keep trying with its old token, is restarted. The stop script stops
    it only if no other resource started it since and its unit is still the one it was last
    started with; then it removes the identity the kubelet made, never a file the stack
    writes (the CA may live in the cert dir).
    """
    values = {
        **_kubelet_values(settings, node),
        "files": restart_files,
        "owner": owner,
        "record": f"{NODE_STATE_DIR}/claims/units/{settings.kubelet.unit_name}",
        "bootstrap_token_id": bootstrap_token_id,
        "remove_bootstrap_kubeconfig": settings.bootstrap_token.remove_kubeconfig,
        "remove_containers": settings.removal.remove_containers,
        "keep": _stack_files(settings.kubelet),
    }
    return Scripts(
        create=render("start-kubelet.sh.j2", first=True, **values),
        update=render("start-kubelet.sh.j2", first=False, **values),
        delete=render("stop-kubelet.sh.j2", **values),
    )


def restart_scripts(
    settings: Settings,
    node: NodeSettings,
    restart_files: Sequence[RestartFile],
    repair: int | None = None,
) -> Scripts:
    """Put the staged versions of `restart_files` in place and restart the kubelet when the
    sha256 of one of them, which the script names, differs from those of its last healthy
    start; then wait for its health gate. Created, it does so only when something is staged:
    the start just started the kubelet with the files in place. Updated with a `repair`
    (`components.node.drift`), it restarts once for that repair whatever the files say."""
    values = {"files": restart_files, **_kubelet_values(settings, node)}
    repaired = f"{NODE_STATE_DIR}/repaired/{settings.kubelet_for(node).unit_name}"
    return Scripts(
        create=render("restart-kubelet.sh.j2", first=True, repair=None, **values),
        update=render(
            "restart-kubelet.sh.j2", first=False, repair=repair, repaired=repaired, **values
        ),
        delete=None,
    )


def _stack_files(kubelet: KubeletSettings) -> str:
    """Every path the stack writes on a node, which the identity removal must leave, as a
    `case` pattern (settings refuse quotes in paths)."""
    paths = {kubelet.ca_file, kubelet.config_file, kubelet.unit_file, kubelet.bootstrap_kubeconfig}
    return "|".join(f"'{path}'" for path in sorted(paths))
