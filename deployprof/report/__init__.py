"""Renderers over result records only."""
