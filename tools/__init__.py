"""Maintenance scripts of the book (not part of vaelib, not installed with it)."""
