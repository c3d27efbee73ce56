"""Widgets shared by several screens (the braille chart, the line-strip cache)."""
