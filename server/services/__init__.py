"""gRPC servicers: translate proto <-> domain and raise server.errors; no logic here."""
