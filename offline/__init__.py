"""The program run offline under Pulumi's mocks: `make plan` and the tests' engine."""

from dependencies import require

require("python -m offline.plan")
