"""``md.optim``: optimizers (the update arithmetic runs in C++)."""
from .optimizer import Optimizer
from .sgd import SGD
