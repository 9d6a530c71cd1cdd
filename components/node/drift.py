"""`NodeDrift`: what `pulumi refresh` finds changed on a node, and how `pulumi up` puts it back.

pulumi-command's commands are never read back, so a file edited on a node, or a kubelet
stopped there, would go unnoticed until the files change again. Each active node has a
`<node>-drift` resource whose `read` (refresh) connects to the node (`remote_read`) and
compares the files the stack wrote (CA, config, unit, bootstrap kubeconfig, the downloaded
binary) with their sha256, and the kubelet the stack started with its state
(`drift_check`). What it finds shows as the refresh's diff of `drift`, naming the node and
each file, and bumps `generation`; `repairs` records, for each file's command (and the
kubelet's restart), the generation that last found it changed.

`repairs` is an input too (refresh writes it back, `check` carries it over), so the node's
commands read it in preview as in an update: a command with a repair gets a line naming it
in its update script, which runs it again (the file is written back, staged for the node's
rollout batch), and the restart restarts the kubelet once for it, in its batch
(`rendering.restart_scripts`). Nothing is ever removed from `repairs`, so the scripts do not
change back; a stack with none has the scripts it had before this resource existed.

Created, it connects to nothing: a stack upgraded to this version gains these resources and
changes nothing on the nodes. The SSH key is read from the stack's configuration when the
provider is configured (as `AdminProvider` reads the admin credential), never stored. A node
that cannot be reached is said so in `drift` and repairs nothing.

Pickled by dill into the state, by reference: the module has no side effects.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckResult,
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from components.node import drift_check
from components.node.drift_check import KUBELET, WrittenFile
from components.node.rendering import Scripts

SSH_CONFIG_KEY = "kubelet-bootstrap:ssh"
REPAIRS = "repairs"
"""The input the program does not set: the state's value is kept (refresh writes it)."""
OUTPUT_ONLY = ("generation", "drift")
BOOTSTRAP_KUBECONFIG = "bootstrap-kubeconfig"


class NodeDriftProvider(ResourceProvider):
    """Reads a node on refresh; creates, updates and deletes touch nothing on it."""

    _private_key: str | None = None
    _problem: str = "the provider was not configured with the stack's configuration"

    def configure(self, req: ConfigureRequest) -> None:
        from components.settings.model import SshSettings

        # Read here, reported when a read needs it: a problem here must not fail a diff.
        try:
            raw = req.config.get(SSH_CONFIG_KEY)
            ssh = SshSettings.model_validate(json.loads(raw) if isinstance(raw, str) else raw)
            self._private_key = ssh.key.get_secret_value()
        except (ValueError, TypeError) as error:
            self._private_key = None
            self._problem = f"{SSH_CONFIG_KEY} does not give a private key: {_first_line(error)}"

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        return CheckResult({**news, REPAIRS: (olds or {}).get(REPAIRS) or {}}, [])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """A change when the inputs changed, or when `drift` says something: the update clears
        it, as the node's commands put back what it names in the same run."""
        # Over both sides' keys: the SDK leaves out an input that became None (`bastion`).
        compared = (olds.keys() | news.keys()) - {REPAIRS, *OUTPUT_ONLY, "__provider"}
        changed = any(olds.get(key) != news.get(key) for key in compared)
        return DiffResult(changes=changed or bool(olds.get("drift")), replaces=[])

    def create(self, props: dict[str, Any]) -> CreateResult:
        """Connects to nothing. Its generation starts at the time it was made: the node records
        the last repair its kubelet restarted for, and a probe made again for the same machine
        (a rename, destroy and up) must not ask for a repair number the node already holds."""
        return CreateResult(
            f"{props['node']}-drift", {**props, "generation": int(time.time()), "drift": ""}
        )

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult({**news, "generation": olds.get("generation", 0), "drift": ""})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """Connects to the node and compares; what it finds bumps `generation` and marks the
        commands that put it back in `repairs`, in the outputs and the inputs alike."""
        from components.node import remote_read

        generation = int(props.get("generation") or 0)
        repairs = dict(props.get("repairs") or {})
        try:
            found = self._observe(props)
        except (remote_read.RemoteReadError, ValueError, RuntimeError) as error:
            drift = f"{props['node']}: not checked: {error}"
        else:
            if found:
                generation += 1
                repairs.update({finding.key: generation for finding in found})
            drift = drift_check.describe(props["node"], found)
        inputs = {k: v for k, v in props.items() if k not in (*OUTPUT_ONLY, "__provider")}
        inputs["repairs"] = repairs
        outputs = {**inputs, "generation": generation, "drift": drift}
        return ReadResult(id_, outputs, inputs)

    def _observe(self, props: dict[str, Any]) -> list[drift_check.Finding]:
        from components.node import remote_read
        from components.node.ssh import as_root

        if self._private_key is None:
            raise RuntimeError(self._problem)
        written = [WrittenFile(**file) for file in props["files"]]
        if props.get("bootstrap"):
            written.append(WrittenFile(**props["bootstrap"]))
        script = drift_check.probe_script(
            props["node"], [f.path for f in written], props["started"], props["unit"]
        )
        output = remote_read.read_as_root(
            _endpoint(props["target"]),
            _endpoint(props["bastion"]) if props.get("bastion") else None,
            self._private_key,
            as_root(script, props.get("become")),
        )
        return drift_check.findings(written, drift_check.parse(output), props["unit"])


def _endpoint(value: Mapping[str, Any]) -> Any:
    from components.node.remote_read import Endpoint

    return Endpoint(value["host"], int(value["port"]), value["user"], value.get("host_key"))


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


class NodeDrift(Resource, module="kubelet-bootstrap", name="NodeDrift"):
    """A node's drift as the last refresh found it, and the repairs it asked for."""

    repairs: pulumi.Output[dict[str, int]]
    generation: pulumi.Output[int]
    drift: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        inputs: Mapping[str, Any],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            NodeDriftProvider(),
            name,
            {**inputs, "repairs": {}, "generation": None, "drift": None},
            pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(additional_secret_outputs=["bootstrap"])
            ),
        )


def probe_inputs(
    node: str,
    target: Mapping[str, Any],
    bastion: Mapping[str, Any] | None,
    become: str | None,
    files: Sequence[WrittenFile],
    bootstrap: pulumi.Input[Mapping[str, Any]] | None,
    started: str,
    unit: str,
) -> dict[str, Any]:
    """What the resource holds to read `node`, never the private key: `bootstrap`, the
    bootstrap kubeconfig's WrittenFile fields, is a secret input of its own (None where the
    stack removes that file itself: what was there is no longer the stack's)."""
    return {
        "node": node,
        "target": dict(target),
        "bastion": dict(bastion) if bastion else None,
        "become": become,
        "files": [vars(file) for file in files],
        "bootstrap": bootstrap,
        "started": started,
        "unit": unit,
    }


def repair_line(repairs: Mapping[str, int], keys: Sequence[str]) -> int | None:
    """The generation of the last repair asked for any of `keys`, or None."""
    asked = [repairs[key] for key in keys if key in repairs]
    return max(asked) if asked else None


def with_repair(scripts: Scripts, repair: int | None) -> Scripts:
    """`scripts` whose update names `repair`, so it runs again; unchanged without one."""
    if repair is None or scripts.update is None:
        return scripts
    note = f"# repair {repair}: `pulumi refresh` found this changed on the node\n"
    return scripts._replace(update=scripts.update + note)


def restart_repair(repairs: Mapping[str, int], file_keys: Sequence[str]) -> int | None:
    """The repair the kubelet restarts for: of a file it reads, or of the kubelet itself."""
    return repair_line(repairs, [*file_keys, KUBELET])
