"""`make plan`: run the real program for a stack offline and show what it would deploy.

Prints the resources as a tree with their dependencies and secret inputs, the stack outputs,
and writes each node's files under `build/<stack>/<node>/<path on the node>` and its commands'
scripts under `build/<stack>/<node>/commands/`, into a directory of its own each time (the last
plan moves to `build/<stack>.previous`). Token secrets are made up by the offline engine and
masked unless `--show-secrets`.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pulumi
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from offline import plan_diff, plan_dir
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
        config = stack_config(args.stack, throwaway_ssh_key=args.throwaway_ssh_key)
        recording = run_program(config, args.stack)
        previous = plan_dir.start(out, args.stack)
    except (ValueError, pulumi.RunError) as error:
        print(f"plan for stack {args.stack!r} failed:\n{error}", file=sys.stderr)
        return 2

    mask = (lambda text: text) if args.show_secrets else _masker(recording.secret_values)
    print(mask(render_tree(recording, f"{PROJECT}-{args.stack}")))
    print(mask(render_outputs(recording)))
    written = write_node_files(recording, out, mask) + write_command_scripts(recording, out, mask)
    print(f"\nwrote {len(written)} files under {out}")
    if args.diff:
        print()
        if previous.is_dir():
            print(plan_diff.compare(previous, out))
        else:
            print(f"no previous plan of stack {args.stack!r} to compare with")
    return 0


def stack_config(stack: str, *, throwaway_ssh_key: bool = False) -> dict[str, Any]:
    """The config of `Pulumi.<stack>.yaml`, as the CLI would pass it to the program."""
    path = PROJECT_ROOT / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise ValueError(f"{path.name} does not exist; stacks here: {_stacks()}")
    config = dict(_read_stack_file(path).get("config") or {})
    if throwaway_ssh_key:
        ssh = dict(config.get("kubelet-bootstrap:ssh") or {})
        ssh.pop("privateKeyFile", None)
        ssh["privateKey"] = _throwaway_key()
        config["kubelet-bootstrap:ssh"] = ssh
    encrypted = [key for key, value in config.items() if _has_secure_value(value)]
    if encrypted:
        raise ValueError(
            f"{', '.join(encrypted)}: encrypted with the stack's secrets provider, which only the "
            "Pulumi CLI can decrypt; plan offline with plaintext test values"
        )
    return config


def _read_stack_file(path: Path) -> dict[str, Any]:
    """The stack file as a mapping; a YAML mistake is one line, `file:line:column: problem`."""
    try:
        document = yaml.safe_load(path.read_bytes()) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        where = f"{path.name}:{mark.line + 1}:{mark.column + 1}" if mark else path.name
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ValueError(f"{where}: {problem}") from None
    if not isinstance(document, dict):
        raise ValueError(f"{path.name}: is not a mapping with a config: key")
    return document


def _stacks() -> str:
    return ", ".join(sorted(p.name.split(".")[1] for p in PROJECT_ROOT.glob("Pulumi.*.yaml")))


def _has_secure_value(value: Any) -> bool:
    if isinstance(value, dict):
        return "secure" in value or any(_has_secure_value(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secure_value(v) for v in value)
    return False


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
            lines.append(f"{indent}{'└─' if last else '├─'} {_describe(resource, by_urn)}")
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


def write_node_files(recording: Recording, out: Path, mask) -> list[Path]:
    """Write what each file command would write, to out/<node>/<path on the node>."""
    by_urn = recording.by_urn()
    written = []
    for resource in recording.resources:
        destination = _DEST.search(str(resource.inputs.get("create", "")))
        if not destination or "stdin" not in resource.inputs:
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
