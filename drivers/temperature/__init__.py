"""Cryostat temperature controllers: Lake Shore 335/336, Montana Cryostation (legacy TCP)."""
