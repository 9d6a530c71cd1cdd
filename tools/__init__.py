"""Operator tools beside the program: they write its inputs, and Pulumi never runs them."""

from dependencies import require

require("python -m tools")
