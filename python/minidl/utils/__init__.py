"""``md.utils``: data loading (``utils.data``), DLPack (``utils.dlpack``) and progress bars
(``utils.progress``)."""
from . import data, dlpack, progress
