"""Model bundles and the runtime that serves them."""
