"""The Training screen (key 2): train the selector model and browse trained models."""
