"""controller/library: see docs/architecture.md."""
