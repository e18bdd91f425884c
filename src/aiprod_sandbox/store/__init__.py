"""Stores that keep accounts beyond the process (`core/store.py` is the interface)."""
