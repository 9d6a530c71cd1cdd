"""The kubelet versions kubelet-bootstrap supports, which preflight and the binary install check.

The KubeletConfiguration and the unit are written for these: 1.31 brought the flags the unit
no longer passes into the config, and each minor version past the last one tested may drop a
field the config sets.
"""

# The kubelet minor versions supported (Kubernetes 1.x), both included.
MINIMUM_MINOR = 31
MAXIMUM_MINOR = 35


def supported_versions() -> str:
    return f"1.{MINIMUM_MINOR} to 1.{MAXIMUM_MINOR}"
