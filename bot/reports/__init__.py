"""Supervision: the figures, the HTML and CSV report."""
