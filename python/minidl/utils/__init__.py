"""``md.utils``: data loading (``utils.data``) and progress bars (``utils.progress``)."""
from . import data, progress
