"""controller/bench: see docs/architecture.md."""
