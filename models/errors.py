"""The selector's error type: one human sentence, exit 2 from the CLI.

It derives from ``storage.errors.AvwapError`` so ``avwap train`` and the
console show ``str(err)`` as is, like every other failure in the project.
"""

from __future__ import annotations

from storage.errors import AvwapError


class ModelError(AvwapError):
    """A data set, training run or checkpoint cannot be used as asked."""


class InsufficientSamples(ModelError):
    """Too few samples for training; the message lists the three remedies."""
