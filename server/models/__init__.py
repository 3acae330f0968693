"""Model bundles, the runtime that serves them, and the dynamic batching of their calls."""
