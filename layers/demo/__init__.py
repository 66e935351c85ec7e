"""The deterministic synthetic demo city."""
