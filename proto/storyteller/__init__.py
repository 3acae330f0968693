"""Storyteller gRPC contract: Python stubs generated from the .proto files beside them."""
