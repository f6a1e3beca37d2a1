"""Built-in scenarios: one TOML file each (see erpgen.scenario)."""
