"""isolint: find and rewrite the patterns that leak one user's request into another's."""

try:
    from ._version import __version__  # written by the build from the git tags (hatch-vcs)
except ImportError:  # a source tree that was never built or installed
    __version__ = "0+unknown"
