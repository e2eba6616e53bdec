"""Pieces of the HTML view of a plan (:func:`tinyabi.dispatch.html.render_plan_html`)."""

__all__ = []
