"""The SDK's dynamic provider host, driven over gRPC as the engine drives it.

`python -m pulumi.dynamic`, started in the project directory, prints its port; the engine
calls `Configure` with the stack's whole configuration (namespaced keys, secrets wrapped),
then `Create`, `Read`, `Update`, `Diff` or `Delete` with the pickled provider among the
properties. A test that goes through this host proves what a real `pulumi up` would do with
the pickle and the configuration, not what a direct call to the class does.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import json_format, struct_pb2
from pulumi.dynamic import ResourceProvider
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from offline.engine import PROJECT_ROOT

PROVIDER_KEY = "__provider"
URN = "urn:pulumi:lab::kubelet-bootstrap::pulumi-python:dynamic:Resource::under-test"


def _secret(value: Any) -> dict[str, Any]:
    """A value as the engine sends a secret: wrapped in the secret signature."""
    return {rpc._special_sig_key: rpc._special_secret_sig, "value": value}


def _struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(dict(values))
    return message


@dataclass
class ProviderHost:
    """One provider host process, configured; each call carries `provider`'s pickle."""

    stub: provider_pb2_grpc.ResourceProviderStub
    pickle: str
    stderr: str = ""
    """What the provider printed (its log lines), once the host stopped."""

    def _props(self, props: Mapping[str, Any]) -> struct_pb2.Struct:
        return _struct({**props, PROVIDER_KEY: self.pickle})

    def create(self, props: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        answer = self.stub.Create(
            provider_pb2.CreateRequest(urn=URN, properties=self._props(props))
        )
        return answer.id, _outputs(answer.properties)

    def read(self, id_: str, props: Mapping[str, Any]) -> dict[str, Any]:
        request = provider_pb2.ReadRequest(id=id_, urn=URN, properties=self._props(props))
        return _outputs(self.stub.Read(request).properties)

    def update(self, id_: str, olds: Mapping[str, Any], news: Mapping[str, Any]) -> dict[str, Any]:
        request = provider_pb2.UpdateRequest(
            id=id_, urn=URN, olds=self._props(olds), news=self._props(news)
        )
        return _outputs(self.stub.Update(request).properties)

    def delete(self, id_: str, props: Mapping[str, Any]) -> None:
        self.stub.Delete(provider_pb2.DeleteRequest(id=id_, urn=URN, properties=self._props(props)))


def _outputs(message: struct_pb2.Struct) -> dict[str, Any]:
    outs = json_format.MessageToDict(message)
    outs.pop(PROVIDER_KEY, None)
    return outs


@contextmanager
def provider_host(
    provider: ResourceProvider, config: Mapping[str, str], env: Mapping[str, str] | None = None
) -> Iterator[ProviderHost]:
    """A host process for `provider`, configured with `config` (each value sent as a
    secret, as the engine sends `--secret` values), in an environment of `env` alone."""
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.dynamic"],
        cwd=PROJECT_ROOT,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = provider_pb2_grpc.ResourceProviderStub(channel)
            args = _struct({key: _secret(value) for key, value in config.items()})
            stub.Configure(provider_pb2.ConfigureRequest(args=args))
            host = ProviderHost(stub, serialize_provider(provider))
            yield host
    finally:
        process.kill()
        _, stderr = process.communicate()
    host.stderr = stderr
