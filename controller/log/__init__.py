"""controller/log: see docs/architecture.md."""
