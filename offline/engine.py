"""An offline stand-in for the Pulumi engine: runs the real program under Pulumi mocks.

The Pulumi CLI cannot be installed here, and the plan, the tests and the benchmark must not
need a cluster. This module runs `__main__.py` exactly as the CLI would hand it its stack
configuration (`PULUMI_CONFIG`), and records every registration as the engine receives it:
type, name, parent, dependencies, and the raw serialized inputs with their secret markers.
Mocks drop dependencies and secrets, so the recording monitor keeps the raw request.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import json
import os
import runpy
import string
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from pulumi.runtime import mocks
from pulumi.runtime.settings import set_root_resource
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _sync_await

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROGRAM = PROJECT_ROOT / "__main__.py"
PROJECT = "kubelet-bootstrap"

# The marker Pulumi's wire format puts on a secret value.
SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass
class Registration:
    """One resource as the engine saw it."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    dependencies: list[str]
    inputs: dict[str, Any]
    """Deserialized inputs: secrets unwrapped, so tests can read them."""
    secret_paths: set[str]
    """Dotted paths of the inputs that arrived marked secret."""
    outputs: dict[str, Any] = field(default_factory=dict)
    additional_secret_outputs: list[str] = field(default_factory=list)
    retain_on_delete: bool = False
    """Whether `pulumi destroy` (or dropping it) leaves the object where it is."""
    ignore_changes: list[str] = field(default_factory=list)
    """Inputs whose changes the engine ignores (their values from the state are used)."""
    provider: str = ""
    """The provider reference (`<provider urn>::<id>`), when one is given."""
    aliases: list[dict[str, Any]] = field(default_factory=list)
    """Its aliases as sent: `{"urn": ...}` or `{"spec": {"name", "type", "parentUrn"...}}`."""


@dataclass
class Recording:
    """What one run of the program registered, in order."""

    resources: list[Registration] = field(default_factory=list)
    stack_outputs: dict[str, Any] = field(default_factory=dict)
    stack_output_secrets: set[str] = field(default_factory=set)
    secret_values: set[str] = field(default_factory=set)
    """Every secret the offline engine made up (token secrets), to mask in what it prints."""

    def by_urn(self) -> dict[str, Registration]:
        return {r.urn: r for r in self.resources}

    def named(self, name: str) -> Registration:
        matches = [r for r in self.resources if r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources named {name!r}")
        return matches[0]

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.resources if r.type == type_]


class RecordingMonitor(mocks.MockMonitor):
    """A MockMonitor that keeps what the plain one throws away."""

    def __init__(self, mocks_: mocks.Mocks, recording: Recording) -> None:
        super().__init__(mocks_)
        self.recording = recording

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        if request.type != STACK_TYPE:
            raw = json_format.MessageToDict(request.object)
            registration = self.resources.get(response.urn)
            self.recording.resources.append(
                Registration(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    custom=bool(request.custom),
                    parent=request.parent,
                    dependencies=list(request.dependencies),
                    inputs=_unwrap(raw),
                    secret_paths=set(_secret_paths(raw)),
                    outputs=dict(registration.state) if registration else {},
                    additional_secret_outputs=list(request.additionalSecretOutputs),
                    retain_on_delete=bool(request.retainOnDelete),
                    ignore_changes=list(request.ignoreChanges),
                    provider=request.provider,
                    aliases=[json_format.MessageToDict(alias) for alias in request.aliases],
                )
            )
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        if request.urn.split("::")[2] == STACK_TYPE:
            raw = json_format.MessageToDict(request.outputs)
            self.recording.stack_outputs = _unwrap(raw)
            self.recording.stack_output_secrets = {
                path.split(".")[0] for path in _secret_paths(raw)
            }
        return super().RegisterResourceOutputs(request)


class OfflineMocks(mocks.Mocks):
    """Plausible, deterministic outputs for the resources this program uses."""

    def __init__(self, stack: str, clock: datetime, recording: Recording) -> None:
        self.stack = stack
        self.clock = clock
        self.recording = recording

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = dict(args.inputs)
        if args.typ == "pulumi-python:dynamic/kubelet-bootstrap:TokenIssue":
            token_id = self._fake(f"{args.name}/id", 6)
            expires = self.clock + timedelta(seconds=int(args.inputs["ttl_seconds"]))
            outputs.update(
                token_id=token_id,
                token_secret=self._fake(f"{args.name}/secret", 16),
                expiration=expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                secret_name=f"bootstrap-token-{token_id}",
            )
            self.recording.secret_values.add(outputs["token_secret"])
            return outputs["secret_name"], outputs
        if args.typ == "pulumi-python:dynamic/kubelet-bootstrap:ApproverIdentity":
            outputs.update(
                secret_name=f"{args.inputs['name']}-token",
                secret_uid=self._fake(f"{args.name}/uid", 12),
                token=self._fake(f"{args.name}/token", 40),
            )
            self.recording.secret_values.add(outputs["token"])
        if args.typ == "pulumi-python:dynamic/kubelet-bootstrap:NodeDrift":
            outputs.update(generation=0, drift="")
        return f"{args.name}-id", outputs

    def call(self, args: mocks.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None

    def _fake(self, name: str, length: int) -> str:
        """A value of `length` from [a-z0-9], as the token issue draws, stable for a stack and
        name."""
        alphabet = string.ascii_lowercase + string.digits
        digest = hashlib.sha256(f"{self.stack}/{name}".encode()).digest()
        return "".join(alphabet[b % len(alphabet)] for b in (digest * 2)[:length])


def run_program(
    config: Mapping[str, Any],
    stack: str = "dev",
    *,
    clock: datetime | None = None,
    program: Path = PROGRAM,
    recording: Recording | None = None,
    secret_keys: Sequence[str] = (),
) -> Recording:
    """Run the program for `config` (full keys, like `kubelet-bootstrap:nodes`) and record it;
    `secret_keys` are those the CLI would name as set with `--secret`.

    Exceptions of the program propagate, after whatever it registered has been recorded into
    `recording` (pass one to inspect a failed run).
    """
    recording = recording if recording is not None else Recording()
    offline = OfflineMocks(stack, clock or datetime.now(timezone.utc), recording)
    monitor = RecordingMonitor(offline, recording)
    with _stack_config(config, secret_keys), _working_directory(PROJECT_ROOT):
        mocks.set_mocks(offline, project=PROJECT, stack=stack, preview=False, monitor=monitor)
        # set_mocks made a root stack of its own; the program gets a fresh one, as under the CLI.
        set_root_resource(None)  # type: ignore[arg-type]
        _sync_await(run_in_stack(_run_path(program)))
    return recording


def close_event_loops() -> None:
    """Close the event loops the mock monitor left in the SDK's worker threads.

    `MockMonitor` makes one per thread it is called on and never closes it; at interpreter
    exit their finalizers then run after their sockets are gone and print a traceback. A
    command-line tool calls this once, before it exits.
    """
    for candidate in gc.get_objects():
        idle = isinstance(candidate, asyncio.AbstractEventLoop) and not candidate.is_running()
        if idle and not candidate.is_closed():
            candidate.close()


def _run_path(program: Path) -> Callable[[], None]:
    def run() -> None:
        runpy.run_path(str(program), run_name="__main__")

    return run


@contextlib.contextmanager
def _stack_config(config: Mapping[str, Any], secret_keys: Sequence[str]) -> Iterator[None]:
    """Hand the program its configuration, and the keys set with `--secret`, the way the
    Pulumi CLI does."""
    saved = {key: os.environ.get(key) for key in ("PULUMI_CONFIG", "PULUMI_CONFIG_SECRET_KEYS")}
    os.environ["PULUMI_CONFIG"] = json.dumps(
        {
            key: value if isinstance(value, str) else json.dumps(value)
            for key, value in config.items()
        }
    )
    os.environ["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(list(secret_keys))
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                del os.environ[key]
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    """Pulumi runs a program in its project directory; relative paths in settings rely on it."""
    saved = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(saved)


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG_KEY) == SECRET_SIG


def _unwrap(value: Any) -> Any:
    if _is_secret(value):
        return _unwrap(value.get("value"))
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


def _secret_paths(value: Any, path: str = "") -> Iterator[str]:
    if _is_secret(value):
        yield path
        yield from _secret_paths(value.get("value"), path)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _secret_paths(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _secret_paths(item, f"{path}[{index}]")
