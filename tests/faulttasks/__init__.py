"""Tasks that misbehave on purpose, for the fault tests (installed by tests.fault_settings)."""
