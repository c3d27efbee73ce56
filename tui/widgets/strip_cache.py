"""Line caching for widgets that draw their own text lines.

The AVWAP and indicators panes format each line once per update and let
Textual ask for it many times (scrolling, overlays, repaints): the cached
``Strip`` is reused until the content changes (``invalidate``) or the width does.
"""

from __future__ import annotations

from textual.strip import Strip


class StripCache:
    """Mixin: ``render_line`` from ``_line(y, width)``, cached per line and width."""

    _strips: dict[int, Strip]

    def _line(self, y: int, width: int) -> Strip:
        raise NotImplementedError

    def render_line(self, y: int) -> Strip:
        width = self.size.width  # type: ignore[attr-defined]
        strip = self._strips.get(y)
        if strip is None or strip.cell_length != width:
            strip = self._strips[y] = self._line(y, width)
        return strip

    def on_resize(self) -> None:
        self._strips.clear()
