"""The lab's offline Pulumi: a PULUMI_HOME of its own with the built plugins, and the environment
every CLI call runs in.

Provider plugins are registered with `pulumi plugin install ... --file` at the exact versions
the Python SDKs in requirements.txt ask for (the engine matches versions exactly), and are kept
off PATH, so nothing is downloaded and nothing warns about ambient plugins. The language host
and its two scripts sit beside the CLI in `.lab/bin`, where the CLI looks for bundled plugins.

    python -m lab.pulumi_home setup    # register the plugins built by `python -m lab.build`
    python -m lab.pulumi_home env      # print the environment as `export` lines
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from lab import paths
from lab.build import load_pins
from lab.processes import LabError

# Lab-only: it protects throwaway lab stacks and nothing real.
PASSPHRASE = "kubelet-bootstrap-lab"


def home() -> Path:
    return paths.lab_dir() / "pulumi-home"


def environment(backend: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """The offline environment for a CLI call: lab home, local backend, no downloads."""
    env = dict(os.environ if base is None else base)
    for inherited in ("PULUMI_CONFIG_PASSPHRASE_FILE", "PULUMI_ACCESS_TOKEN", "KUBECONFIG"):
        env.pop(inherited, None)
    env.update(
        PULUMI_HOME=str(home()),
        PULUMI_BACKEND_URL=f"file://{backend}",
        PULUMI_CONFIG_PASSPHRASE=PASSPHRASE,
        PULUMI_SKIP_UPDATE_CHECK="true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
        PATH=os.pathsep.join([str(paths.bin_dir()), env.get("PATH", "")]),
    )
    return env


def setup() -> list[str]:
    """Register each provider plugin under the version its Python SDK asks for."""
    home().mkdir(parents=True, exist_ok=True)
    installed = []
    for name, pin in load_pins()["plugins"].items():
        binary = paths.plugins_dir() / f"pulumi-resource-{name}"
        if not binary.exists():
            raise LabError(f"{binary} is not built: run `python -m lab.build` first")
        result = subprocess.run(
            [
                str(paths.bin_dir() / "pulumi"),
                "plugin",
                "install",
                "resource",
                name,
                pin["installs_as"],
                "--file",
                str(binary),
                "--reinstall",
            ],
            env=environment(paths.lab_dir() / "pulumi-state"),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise LabError(f"installing plugin {name}: {result.stdout}{result.stderr}")
        installed.append(f"{name} {pin['installs_as']}")
    return installed


def main(argv: list[str] | None = None) -> int:
    command = (argv if argv is not None else sys.argv[1:])[:1]
    if command == ["setup"]:
        try:
            for plugin in setup():
                print(f"lab: registered plugin {plugin}")
        except LabError as error:
            print(f"lab: {error}", file=sys.stderr)
            return 1
    elif command == ["env"]:
        env = environment(paths.lab_dir() / "pulumi-state", base={"PATH": os.environ["PATH"]})
        for key, value in sorted(env.items()):
            print(f"export {key}={shlex.quote(value)}")
    else:
        print("usage: python -m lab.pulumi_home setup|env", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
