"""A node leaving the stack: drained before its kubelet stops, its Node deleted after."""
