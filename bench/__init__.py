"""Benchmarks of kubelet-bootstrap under the offline engine (`make bench`)."""
