"""controller/runtime: see docs/architecture.md."""
