"""The expression language's one error type: one line naming the problem.

A plain ``ValueError`` (the engine imports no ``storage`` errors); callers show
its message as one line (the CLI exits with ``exit_code``, the console marks
the expression inline).
"""

from __future__ import annotations


class ExpressionError(ValueError):
    """The expression cannot be parsed, refers to unknown names, or mixes types."""

    exit_code = 2
