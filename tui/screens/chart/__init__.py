"""The chart screen: candles, volume, AVWAP lines and a crosshair for one symbol."""
