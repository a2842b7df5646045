"""The version of minidl, in one place: ``md.__version__`` reads it, and the wheel's metadata
reads it too (pyproject.toml's regex metadata provider), so the two cannot disagree."""
__version__ = "0.1.0"
