"""controller/clinical: see docs/architecture.md."""
