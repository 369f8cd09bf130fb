"""The six memory managers; each decides ADD / UPDATE / MERGE / NOOP for candidates of its type."""
