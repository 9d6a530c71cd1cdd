"""What `python -m tools.*`, `make plan` and `make bench` need from the interpreter, said in one
line when it lacks them, instead of a traceback from deep inside an import.

Standard library only: it runs before any of them can be imported.
"""

from __future__ import annotations

import sys
from importlib.util import find_spec

# Import name -> the requirements.txt package that provides it.
REQUIRED = {
    "pulumi": "pulumi",
    "pulumi_kubernetes": "pulumi-kubernetes",
    "pulumi_command": "pulumi-command",
    "cryptography": "cryptography",
    "jinja2": "jinja2",
    "pydantic": "pydantic",
    "yaml": "pyyaml",
    "kubernetes": "kubernetes",
}


def missing() -> list[str]:
    """The packages of requirements.txt this interpreter cannot import."""
    return [package for module, package in REQUIRED.items() if find_spec(module) is None]


def require(what: str) -> None:
    """Exit with one line naming what to install when a package is missing."""
    absent = missing()
    if absent:
        sys.exit(
            f"{what} needs {', '.join(absent)}, which {sys.executable} lacks: run `make plan` "
            "once (it sets up .venv), then use .venv/bin/python, or "
            "`pip install -r requirements.txt` into this interpreter"
        )
