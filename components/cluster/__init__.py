"""The cluster, as its admin: bootstrap RBAC, per-node bootstrap tokens, the admin's client,
and what a node's Node object carries (its identity, labels and taints)."""
