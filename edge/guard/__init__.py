"""Safeguards before acting: behaviour monitor, admission policy and queue, confirmations."""
