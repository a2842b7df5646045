"""``md.models``: classic architectures, written the way torchvision writes its models so that
the module names and ``state_dict`` keys match a torchvision-style PyTorch model.

* :class:`LeNet`: LeNet-5-style CNN for 1x28x28 (configurable) inputs.
* Transformers (``nn.Transformer*`` inside): :class:`GPT` (causal LM, pre-norm, tied output
  weights, ``generate``), :class:`BertClassifier` (encoder + pooled classifier),
  :class:`Seq2SeqTransformer` (encoder-decoder, ``greedy_decode``), and the positional
  encodings :class:`SinusoidalPositionalEncoding` and :class:`LearnedPositionalEncoding`.
* :class:`ResNet`, :class:`BasicBlock`, :class:`Bottleneck`, :func:`resnet` (CIFAR ResNets of
  depth 6n+2: ``resnet(20)``, 32, 44, 56, 110; ``bottleneck=True`` for 9n+2),
  :func:`plain_resnet` (the same network without shortcuts), ``resnet20()`` ... ``resnet110()``.

Running the same source on PyTorch: every model file uses only names ``torch.nn`` also has,
through a global ``nn``. ``build(torch.nn)`` executes those very files again with
``nn = torch.nn`` and returns a namespace with the same names (``build(torch.nn).resnet(20)``
is the PyTorch twin of ``md.models.resnet(20)``), which is how the tests compare parameter
counts, output shapes and ``state_dict`` keys with PyTorch, and how a learner can move weights
between the two libraries through NumPy.
"""
from __future__ import annotations

import importlib.util
import os
import types

from .lenet import LeNet
from .cifar_resnet import (BasicBlock, Bottleneck, ResNet, plain_resnet, resnet, resnet20, resnet32, resnet44,
                           resnet56, resnet110)

from .positional import LearnedPositionalEncoding, SinusoidalPositionalEncoding, sinusoidal_table
from .gpt import GPT
from .bert import BertClassifier
from .seq2seq import Seq2SeqTransformer
from .bert_model import BertModel, BertModelOutput
from .tokenizer import Tokenizer
from .sentence_encoder import SentenceEncoder, mean_pooling

# in dependency order: a file sees the names built by the files before it
_MODEL_FILES = ("lenet", "cifar_resnet", "positional", "gpt", "bert", "seq2seq")
_BUILT: dict = {}

__all__ = ["LeNet", "BasicBlock", "Bottleneck", "ResNet", "resnet", "plain_resnet", "resnet20",
           "resnet32", "resnet44", "resnet56", "resnet110", "build", "GPT", "BertClassifier",
           "Seq2SeqTransformer", "SinusoidalPositionalEncoding", "LearnedPositionalEncoding", "sinusoidal_table",
           "BertModel", "BertModelOutput", "Tokenizer",
           "SentenceEncoder", "mean_pooling"]


def build(nn) -> types.SimpleNamespace:
    """The model definitions of this package executed against another ``nn`` namespace
    (``torch.nn``, or ``minidl.nn`` itself): a namespace with ``LeNet``,
    ``BasicBlock``, ``Bottleneck``, ``ResNet``, ``resnet``, ``plain_resnet``,
    ``resnet20`` ... ``resnet110``. Cached per ``nn``."""
    key = id(nn)
    hit = _BUILT.get(key)
    if hit is not None and hit[0] is nn:
        return hit[1]
    out = {}
    here = os.path.dirname(os.path.abspath(__file__))
    tag = getattr(nn, "__name__", "nn").replace(".", "_")
    for stem in _MODEL_FILES:
        spec = importlib.util.spec_from_file_location(f"{__name__}._{tag}_{stem}", os.path.join(here, stem + ".py"))
        mod = importlib.util.module_from_spec(spec)
        mod.__dict__.update(out)  # the classes built so far (gpt.py uses positional.py's)
        mod.nn = nn  # the file sees this `nn` instead of importing minidl.nn
        spec.loader.exec_module(mod)
        out.update({name: getattr(mod, name) for name in mod.__all__})
    ns = types.SimpleNamespace(**out)
    _BUILT[key] = (nn, ns)
    return ns
