"""Where existing stacks' state finds ServingCsrApprovalProvider: pickled by reference to this path.

Keep it: removing or renaming it makes refresh, removal and destroy of every such stack fail
with ModuleNotFoundError. The code lives in `components.approval.csr_approval`.
"""

from components.approval.csr_approval import ServingCsrApprovalProvider

__all__ = ["ServingCsrApprovalProvider"]
