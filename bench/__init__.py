"""Benchmarks of kubelet-bootstrap under the offline engine (`make bench`)."""

from dependencies import require

require("python -m bench")
