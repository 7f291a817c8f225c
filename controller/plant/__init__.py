"""controller/plant: see docs/architecture.md."""
