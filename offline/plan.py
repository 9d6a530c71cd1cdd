"""`make plan`: run the real program for a stack offline and show what it would deploy.

Prints first a table of the rollout (per node: what changes since the previous plan, whether
it restarts, its batch), then the resources as a tree with their dependencies and secret
inputs and the stack outputs, and writes each node's files under
`build/<stack>/<node>/<path on the node>` and its commands' scripts under
`build/<stack>/<node>/commands/`, into a directory of its own each time (the last plan moves to
`build/<stack>.previous`). The stack's `--secret` values are opened with its passphrase or
through the Pulumi CLI (`offline.stack_secrets`); they and the token secrets the offline
engine makes up are masked unless `--show-secrets`.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pulumi
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from offline import plan_diff, plan_dir, plan_table, stack_secrets
from offline.engine import (
    PROJECT,
    PROJECT_ROOT,
    Recording,
    Registration,
    close_event_loops,
    run_program,
)

MASK = "[secret]"
COMMAND = "command:remote:Command"
SCRIPTS = ("create", "update", "delete")
_DEST = re.compile(r"^dest='([^']+)'$", re.MULTILINE)
WRITES_STDIN = "# Writes stdin to "
FILE_KINDS = {
    "kubelet-config": "config",
    "kubelet-unit": "unit",
    "ca": "CA",
    "kubelet-binary": "binary",
}
"""What each restart file is, by its command's key, in the rollout table."""
TREE_WIDTH = 160
"""Where the tree's lines are cut: a node's list of what it waits for can be long."""


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make plan", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev", help="stack whose Pulumi.<stack>.yaml to plan")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "build")
    parser.add_argument("--show-secrets", action="store_true", help="do not mask token secrets")
    parser.add_argument(
        "--diff",
        action="store_true",
        help="print a unified diff of each written file against the previous plan of the stack",
    )
    parser.add_argument(
        "--throwaway-ssh-key",
        action="store_true",
        help="plan with a freshly made SSH key instead of the stack's (nothing connects offline)",
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    out = args.out / args.stack

    try:
        opened = stack_config(args.stack, throwaway_ssh_key=args.throwaway_ssh_key)
        recording = run_program(opened.config, args.stack, secret_keys=opened.secret_keys)
        previous = plan_dir.start(out, args.stack)
    except (ValueError, pulumi.RunError) as error:
        print(f"plan for stack {args.stack!r} failed:\n{error}", file=sys.stderr)
        return 2

    secrets = recording.secret_values | opened.secrets
    mask = (lambda text: text) if args.show_secrets else _masker(secrets)
    plans = plan_table.node_plans(recording.stack_outputs, file_kinds(recording))
    print(plan_table.render(plans, plan_table.load(previous)))
    print()
    print(mask(render_tree(recording, f"{PROJECT}-{args.stack}")))
    print(mask(render_outputs(recording)))
    plan_table.save(plans, out)
    written = write_node_files(recording, out, mask) + write_command_scripts(recording, out, mask)
    print(f"\nwrote {len(written)} files under {out}")
    if args.diff:
        print()
        if previous.is_dir():
            print(plan_diff.compare(previous, out))
        else:
            print(f"no previous plan of stack {args.stack!r} to compare with")
    return 0


def stack_config(
    stack: str, *, throwaway_ssh_key: bool = False, environ: Mapping[str, str] | None = None
) -> stack_secrets.Opened:
    """The config of `Pulumi.<stack>.yaml`, as the CLI would pass it to the program, its
    `--secret` values opened (`offline.stack_secrets`)."""
    path = PROJECT_ROOT / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise ValueError(f"{path.name} does not exist; stacks here: {_stacks()}")
    document = _read_stack_file(path)
    if throwaway_ssh_key:
        config = dict(document.get("config") or {})
        ssh = dict(config.get("kubelet-bootstrap:ssh") or {})
        ssh.pop("privateKeyFile", None)
        ssh["privateKey"] = _throwaway_key()
        config["kubelet-bootstrap:ssh"] = ssh
        document = {**document, "config": config}
    return stack_secrets.open_secrets(
        stack, document, PROJECT_ROOT, os.environ if environ is None else environ
    )


def _read_stack_file(path: Path) -> dict[str, Any]:
    """The stack file as a mapping; a YAML mistake is one line, `file:line:column: problem`.
    A key given twice is one: the Pulumi CLI refuses such a file, and the last would win."""
    try:
        document = yaml.load(path.read_bytes(), Loader=_UniqueKeyLoader) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        where = f"{path.name}:{mark.line + 1}:{mark.column + 1}" if mark else path.name
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ValueError(f"{where}: {problem}") from None
    if not isinstance(document, dict):
        raise ValueError(f"{path.name}: is not a mapping with a config: key")
    return document


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML as the Pulumi CLI reads a stack file: a key twice in one mapping is an error."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"{key!r} is given twice (first at line {seen[key].line + 1}); the Pulumi "
                    "CLI refuses the file: keep one",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _stacks() -> str:
    return ", ".join(sorted(p.name.split(".")[1] for p in PROJECT_ROOT.glob("Pulumi.*.yaml")))


def _throwaway_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()


def _masker(secrets: set[str]):
    def mask(text: str) -> str:
        for secret in secrets:
            text = text.replace(secret, MASK)
        return text

    return mask


def render_tree(recording: Recording, stack_name: str) -> str:
    """The resources under the stack, children sorted by name, each with what it waits for."""
    by_urn = recording.by_urn()
    children: dict[str, list[Registration]] = defaultdict(list)
    for resource in recording.resources:
        parent = resource.parent if resource.parent in by_urn else ""
        children[parent].append(resource)
    lines = [f"{stack_name} ({len(recording.resources)} resources)"]

    def walk(parent: str, indent: str) -> None:
        kids = sorted(children[parent], key=lambda r: (r.custom, r.name, _short_type(r.type)))
        for index, resource in enumerate(kids):
            last = index == len(kids) - 1
            line = f"{indent}{'└─' if last else '├─'} {_describe(resource, by_urn)}"
            lines.append(line if len(line) <= TREE_WIDTH else line[: TREE_WIDTH - 1] + "…")
            walk(resource.urn, indent + ("   " if last else "│  "))

    walk("", "")
    return "\n".join(lines)


def _describe(resource: Registration, by_urn: dict[str, Registration]) -> str:
    text = f"{_short_type(resource.type)} {resource.name}"
    waits = sorted(by_urn[urn].name for urn in resource.dependencies if urn in by_urn)
    if waits:
        text += f"  ← after {', '.join(waits)}"
    secrets = sorted(p for p in resource.secret_paths if "." not in p and p != "__provider")
    if secrets:
        text += f"  [secret: {', '.join(secrets)}]"
    return text


def _short_type(type_: str) -> str:
    if type_.startswith("pulumi:providers:"):
        return f"provider:{type_.split(':')[-1]}"
    return type_.split(":")[-1]


def render_outputs(recording: Recording) -> str:
    shown = {
        key: MASK if key in recording.stack_output_secrets else value
        for key, value in sorted(recording.stack_outputs.items())
    }
    return "\nStack outputs:\n" + yaml.safe_dump(shown, sort_keys=True).rstrip()


def file_kinds(recording: Recording) -> dict[str, str]:
    """Each restart file's path on the nodes -> what it is (`config`), from its command."""
    by_urn = recording.by_urn()
    kinds = {}
    for command in recording.of_type(COMMAND):
        destination = _DEST.search(str(command.inputs.get("create", "")))
        key = command.name.removeprefix(f"{by_urn[command.parent].name}-")
        if destination and key in FILE_KINDS:
            kinds[destination.group(1)] = FILE_KINDS[key]
    return kinds


def write_node_files(recording: Recording, out: Path, mask) -> list[Path]:
    """Write what each file command would write, to out/<node>/<path on the node>."""
    by_urn = recording.by_urn()
    written = []
    for resource in recording.resources:
        script = str(resource.inputs.get("create", ""))
        destination = _DEST.search(script)
        # A file command writes its stdin there; the kubelet binary's stdin is the CA.
        if not destination or not script.startswith(WRITES_STDIN):
            continue
        node = by_urn[resource.parent].name
        path = out / node / destination.group(1).lstrip("/")
        written.append(_write(path, mask(resource.inputs["stdin"])))
    return written


def write_command_scripts(recording: Recording, out: Path, mask) -> list[Path]:
    """Write each remote command's scripts to out/<node>/commands/<resource>.<script>.sh.

    They are what runs on the node (the create, update and delete of each command, so the
    preparation, the start and the stop too): comparing plans then shows a changed script as
    well as a changed file.
    """
    by_urn = recording.by_urn()
    return [
        _write(
            out / by_urn[command.parent].name / "commands" / f"{command.name}.{script}.sh",
            mask(command.inputs[script]),
        )
        for command in recording.of_type(COMMAND)
        for script in SCRIPTS
        if script in command.inputs
    ]


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


if __name__ == "__main__":
    status = main()
    close_event_loops()
    sys.exit(status)
