"""The story domain of Storyteller: plot graphs, characters' emotional state, sessions.

Kept free of gRPC, ONNX and torch so that designers' tools, the linter and the simulator can use it
without a model or a server, and so that every rule here is testable in milliseconds.
"""
