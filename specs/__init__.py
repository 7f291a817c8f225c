"""The project's specification: requirements, hazards and decisions (TOML data), the
safety invariants (``specs.invariants``, dual-use predicates) and the scenario suite."""
