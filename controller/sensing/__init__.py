"""controller/sensing: see docs/architecture.md."""
