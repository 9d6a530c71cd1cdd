"""The kubelet binary each node fetches when `kubelet.download` is set: its install and removal.

The binary is not content the program holds (a hundred megabytes as stdin, in the state):
the node fetches it from the URL, and the sha256 from the settings is what the scripts check
and what the restart command names, so a new sha256 shows in `pulumi preview` as a restart, like
a new config does. Removal follows the rule of every file the stack writes (claims, the sha256
it wrote, what was on the node before), and also leaves a binary the stack's kubelet still
runs from: unsetting `kubelet.download` must not take the kubelet away from a running node.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.node import rendering
from components.settings.kubelet_versions import MAXIMUM_MINOR, MINIMUM_MINOR
from components.settings.model import KubeletSettings, NodeSettings

# How long one fetch attempt may take (curl's --max-time), in seconds: a kubelet is ~100 MB.
FETCH_TIMEOUT_SECONDS = 900


@dataclass(frozen=True)
class FetchedFile:
    """The binary as the start script names it: its path on the node and its sha256."""

    path: str
    sha256: str


def fetched_binary(kubelet: KubeletSettings) -> FetchedFile | None:
    """The kubelet binary the stack installs, or None when the node is expected to have one."""
    if kubelet.download is None:
        return None
    return FetchedFile(kubelet.binary, kubelet.download.sha256)


def _quoted(value: str) -> str:
    """`value` as one shell word, always in single quotes (shlex.quote leaves `node-0` bare,
    which shellcheck reads as arithmetic)."""
    return "'" + value.replace("'", "'\"'\"'") + "'"


def binary_scripts(
    kubelet: KubeletSettings, node: NodeSettings, owner: str, api_server: str
) -> rendering.Scripts:
    """Install `kubelet.download` at `kubelet.binary` on `node`, if its version is within the
    skew policy of `api_server` (read with the cluster CA, the command's stdin); on delete,
    remove it under
    the claims rule of every file (`rendering.file_scripts`), unless the stack's kubelet on
    that node, started by the start command, still runs from it."""
    download = kubelet.download
    if download is None:
        raise ValueError("kubelet.download is not set: the node's own binary is used")
    record = f"{rendering.NODE_STATE_DIR}/claims/files{kubelet.binary}"
    values = {
        "path": _quoted(kubelet.binary),
        "url": _quoted(download.url),
        "sha256": _quoted(download.sha256),
        "node": _quoted(node.name),
        "record": _quoted(record),
        "owner": _quoted(owner),
        **{
            key: _quoted(value)
            for key, value in rendering.staging_values(kubelet.binary, kubelet).items()
        },
        "minimum": MINIMUM_MINOR,
        "maximum": MAXIMUM_MINOR,
        "timeout": FETCH_TIMEOUT_SECONDS,
        "api_server": api_server,
    }
    in_use = {
        # The start script's record of the kubelet it started (`rendering.kubelet_scripts`).
        "record": f"{rendering.NODE_STATE_DIR}/claims/units/{kubelet.unit_name}",
        "what": "the kubelet the stack started on this node runs from it",
    }
    removal = {
        "path": kubelet.binary,
        "record": record,
        "owner": owner,
        "staged": rendering.staged_path(kubelet.binary),
    }
    return rendering.Scripts(
        create=rendering.render("install-kubelet-binary.sh.j2", first=True, **values),
        update=rendering.render("install-kubelet-binary.sh.j2", first=False, **values),
        delete=rendering.render(
            "remove-file.sh.j2", wrote=download.sha256, in_use=in_use, **removal
        ),
    )
