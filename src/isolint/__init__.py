"""isolint: find and rewrite the patterns that leak one user's request into another's."""

__version__ = "0.1.0"
