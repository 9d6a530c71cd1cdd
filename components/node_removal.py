"""Where existing stacks' state finds NodeDrainProvider and NodeObjectProvider: pickled by
reference to this path.

Keep it: removing or renaming it makes refresh, removal and destroy of every such stack fail
with ModuleNotFoundError. The code lives in `components.removal.node_removal`.
"""

from components.removal.node_removal import NodeDrainProvider, NodeObjectProvider

__all__ = ["NodeDrainProvider", "NodeObjectProvider"]
