"""Server interceptors: cross-cutting concerns kept out of the servicers."""
