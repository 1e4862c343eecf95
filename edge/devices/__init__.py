"""Devices: the registry of discovered entities, their twins, commands and what devices report."""
