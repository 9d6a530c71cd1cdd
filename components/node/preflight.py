"""Preflight: read-only checks of one node, run before the stack writes anything on it.

Each check has a stable camelCase name, the one `preflight.skip` lists and a failure prints
(`node-1: preflight nodeAddress failed: ...; fix: ...`). The script runs every check, reports
every failure, then fails, so one run tells the operator all that is wrong with a node.

Which checks a node gets is a function of the settings (`node_checks`): a setting that makes
a check moot drops it (swap allowed, cgroup v1 allowed), as may later ones (a stack that
installs the kubelet binary itself needs no kubeletBinary check: its install checks it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import PurePosixPath

from components.node import rendering
from components.settings.checks import UNIT_DIRECTORIES
from components.settings.kubelet_versions import MAXIMUM_MINOR, MINIMUM_MINOR, supported_versions
from components.settings.model import NodeSettings, Settings
from components.settings.preflight_checks import CHECKS

_HEALTHZ_PORT = re.compile(r"^healthzPort: (\d+)$", re.MULTILINE)


def node_checks(settings: Settings, node: NodeSettings) -> tuple[str, ...]:
    """The checks `node` gets: all but those skipped and those its settings make moot
    (`node` is there for per-node settings).

    swap: with `kubelet.failSwapOn: false` the kubelet runs with swap. cgroupV2: with
    `kubelet.extraConfig.failCgroupV1: false` it runs on cgroup v1 (1.35 refuses v1 by default).
    kubeletBinary, versionSkew: with `kubelet.download` the node installs it after its
    preflight, and the install checks its version and its skew (`templates/version-skew.sh.j2`).
    """
    kubelet = settings.kubelet_for(node)
    moot = set(settings.preflight.skip)
    if kubelet.download is not None:
        moot.update(("kubeletBinary", "versionSkew"))
    if not kubelet.fail_swap_on:
        moot.add("swap")
    if kubelet.extra_config.get("failCgroupV1") is False:
        moot.add("cgroupV2")
    return tuple(check for check in CHECKS if check not in moot)


def preflight_script(
    settings: Settings, node: NodeSettings, restart_files: Sequence[rendering.RestartFile]
) -> str | None:
    """The node's preflight script, or None when it gets no check.

    It names the sha256 of the files the kubelet restarts for: pulumi-command runs a command
    again only when its inputs change, so the checks run again whenever the stack is about
    to change what is on the node (a file, the connection, the checks), and not on a
    `pulumi up` that changes nothing there.
    """
    checks = node_checks(settings, node)
    if not checks:
        return None
    kubelet = settings.kubelet_for(node)
    config = next(file for file in restart_files if file.path == kubelet.config_file)
    # The config's own healthz port (the template sets it; extraConfig may not): read from the
    # dumped document, as parsing YAML per node would cost more than the rest of the node.
    healthz = _HEALTHZ_PORT.search(config.content)
    assert healthz is not None, "the kubelet config sets no healthzPort"
    return rendering.render(
        "preflight.sh.j2",
        checks=checks,
        node=node,
        kubelet=kubelet,
        api_server=settings.api_server,
        ports=(
            (kubelet.port, "the kubelet API, kubelet.port"),
            (int(healthz.group(1)), "the kubelet's healthz"),
        ),
        # ss names a process by its comm: the binary's name, cut at 15 characters.
        kubelet_process=PurePosixPath(kubelet.binary).name[:15],
        minors=(MINIMUM_MINOR, MAXIMUM_MINOR),
        versions=supported_versions(),
        socket=kubelet.container_runtime_endpoint.removeprefix("unix://"),
        unit_directories=UNIT_DIRECTORIES,
        files=restart_files,
    )
