"""The stack configuration contract: what a stack may say, checked and explained.

Pure data: pydantic models and checks, the kubelet's field catalogue, the messages a person
reads; it imports no other package of the program.
"""
