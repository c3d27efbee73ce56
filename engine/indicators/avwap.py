"""AVWAP family registration (filled in by the AVWAP work)."""
