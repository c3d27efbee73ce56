"""One module per pane of the main screen (watchlist, AVWAP, indicators, status)."""
