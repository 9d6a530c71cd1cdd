"""Where existing stacks' state finds KubeletApiCheckProvider: pickled by reference to this path.

Keep it: removing or renaming it makes refresh, removal and destroy of every such stack fail
with ModuleNotFoundError. The code lives in `components.verification.kubelet_api_check`.
"""

from components.verification.kubelet_api_check import KubeletApiCheckProvider

__all__ = ["KubeletApiCheckProvider"]
