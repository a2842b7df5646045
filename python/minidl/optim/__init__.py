"""``md.optim``: optimizers (the update arithmetic runs in C++, one multi-tensor call per
parameter group) and ``md.optim.lr_scheduler``."""
from . import lr_scheduler
from .adam import Adam, AdamW
from .lamb import LAMB
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "LAMB", "lr_scheduler"]
