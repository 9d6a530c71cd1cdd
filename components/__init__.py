"""The program's parts, one package per idea; `__main__.py` sequences them.

- `settings`: the stack configuration contract (model, value checks, messages, the kubelet
  field catalogue); pure data, it imports none of the other packages.
- `node`: one worker node over SSH: its files, scripts, preflight, binary, rollout.
- `cluster`: cluster-wide objects and the admin's client: RBAC, bootstrap tokens, a Node's
  identity, labels and taints.
- `removal`: a node leaving: its drain and its Node object's deletion.
- `approval`: serving-certificate requests, judged and approved.
- `verification`: the kubelet API checks.

The modules at this level (`token_issue`, `node_metadata`, `node_removal`, `csr_approval`,
`kubelet_api_check`) only name the dynamic providers where existing stacks' state finds them:
dill pickled each by reference to that path, so it stays (see `tests/test_identity.py`).
"""
