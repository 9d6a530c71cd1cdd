"""Where existing stacks' state finds TokenIssueProvider: pickled by reference to this path.

Keep it: removing or renaming it makes refresh, removal and destroy of every such stack fail
with ModuleNotFoundError. The code lives in `components.cluster.token_issue`.
"""

from components.cluster.token_issue import TokenIssueProvider

__all__ = ["TokenIssueProvider"]
