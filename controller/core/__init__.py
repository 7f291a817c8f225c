"""controller/core: see docs/architecture.md."""
