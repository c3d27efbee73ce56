"""Overlays every screen can open: help, list picker, alert dialog, alerts list."""
