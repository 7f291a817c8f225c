"""controller/scenario: see docs/architecture.md."""
