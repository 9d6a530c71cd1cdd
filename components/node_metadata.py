"""Where existing stacks' state finds NodeMetadataProvider: pickled by reference to this path.

Keep it: removing or renaming it makes refresh, removal and destroy of every such stack fail
with ModuleNotFoundError. The code lives in `components.cluster.node_metadata`.
"""

from components.cluster.node_metadata import NodeMetadataProvider

__all__ = ["NodeMetadataProvider"]
