"""``md.utils``: data loading."""
from . import data
