"""Charging accounts' money: tariffs in the OCPI 2.2.1 model and the cost of a session (pure; no I/O)."""
