"""Pulumi components of kubelet-bootstrap and the pure modules they use."""
