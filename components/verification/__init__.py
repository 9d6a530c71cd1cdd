"""The tutorial's kubelet API checks: anonymous requests refused, a token's allowed."""
