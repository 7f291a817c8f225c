"""controller/campaign: see docs/architecture.md."""
