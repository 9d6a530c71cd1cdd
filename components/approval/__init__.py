"""Kubelet serving-certificate requests: the policy that proves them genuine, the approver
that watches for them, and the dynamic resource that runs it."""
