"""Receivers (filled in below)."""
