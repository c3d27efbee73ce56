"""Screens of the console: the main console, overlays, and later-issue placeholders."""
