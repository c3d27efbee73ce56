"""The console screen (key 1): watchlist, AVWAP pane, indicators, status bar.

The panes (``watchlist``, ``avwap_pane``, ``indicators_pane``, ``status_bar``)
render the view models of ``tui.views`` and never see the runtime's ``Frame``;
``present`` turns a frame into those views and ``screen`` wires it all.
"""
