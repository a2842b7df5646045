"""Recurrent layers: ``RNN``, ``LSTM``, ``GRU`` (the cells ``RNNCell``, ``LSTMCell``,
``GRUCell`` are in nn/rnn_cell.py).

A recurrent network reads a sequence one step at a time and carries a hidden state h from
step to step, the same weights at every step, so it handles sequences of any length. The
plain (Elman) RNN's gradient through many steps vanishes or explodes; the LSTM and GRU add
gates that decide what to keep, which lets the gradient flow across long spans. The modules
follow PyTorch's constructor arguments, parameter names (``weight_ih_l0``,
``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``, ``_reverse``), gate order, initialisation
U(-1/sqrt(H), 1/sqrt(H)), shapes and return values, so weights move between the two.

Per time step t (x_t (B, I), h (B, H); W_ih (G H, I), W_hh (G H, H), G = 1 / 4 / 3):
    RNN:   h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)        (or relu)
    LSTM:  i, f, g, o = s(.), s(.), tanh(.), s(.) of x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh
           c_t = f c_{t-1} + i g,   h_t = o tanh(c_t)
    GRU:   r, z = s(.) of x_t W_i{r,z}^T + b_i{r,z} + h_{t-1} W_h{r,z}^T + b_h{r,z}
           n = tanh(x_t W_in^T + b_in + r (h_{t-1} W_hn^T + b_hn)),  h_t = (1 - z) n + z h_{t-1}

Training runs backpropagation through time: the backward walks the steps in reverse.
Where the C++ lives: the reference cells are in cpp/ops/rnn/rnn_cells.h (the equations above,
forward and backward side by side), their float32 vector versions in cpp/ops/rnn/rnn_simd.cpp.
Each layer-direction is ONE C++ call forward (cpp/ops/rnn/rnn.cpp: the input projection of
all steps as one GEMM, then per step one recurrent GEMM and one fused pointwise cell) and ONE
graph node whose backward is one C++ call through all steps. Bidirectional outputs are
concatenated, ``dropout`` is applied to every layer's output but the last (training only).
``proj_size`` (LSTM with projections) is not implemented. The float32 SIMD cells evaluate
sigmoid and tanh with a rational approximation (absolute error <= 3.4e-7, no exp): the gates
scale values of order one, and 5 activations per LSTM unit and step made the exp-based
versions 8% of the forward.
float16 / bfloat16 modules compute in float32 inside (outputs rounded once per layer-direction);
under ``md.autocast`` the LSTM and RNN layers run in the autocast dtype, the GRU and the cells
in float32 (PyTorch's CPU autocast gives the same result dtypes).
"""
from __future__ import annotations

import math

import numpy as np

from .. import _C
from ..amp import autocast_mode as _amp
from ..graph.node import Node
from ..dtypes import bfloat16, float16
from ..ops import array as A
from ..ops._graph import edges, needs_grad, saved_input
from ..ops.higher_order import recomputed_grads
from ..ops.creation import empty, tensor, zeros
from ..ops.indexing import index_copy, index_select
from ..ops.join import cat, stack
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter
from .utils.rnn import PackedSequence, _lengths_of, _positions

_MODES = {"RNN_TANH": _C.RnnMode.rnn_tanh, "RNN_RELU": _C.RnnMode.rnn_relu, "LSTM": _C.RnnMode.lstm,
          "GRU": _C.RnnMode.gru}  # minidl::RnnMode (cpp/ops/rnn/rnn.h), by name
_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


# --8<-- [start:rnn_node]
class RnnLayerBackward(Node):
    """Backward through time of one layer-direction: outputs (y, h_n, c_n) -> gradients of
    (x, h0, c0, W_ih, W_hh, b_ih, b_hh), one C++ call (cpp/ops/rnn/rnn.cpp)."""

    __slots__ = ()
    n_outputs = 3

    def apply(self, grads):
        mode, reverse, x, h0, c0, w_ih, w_hh, y, cell, work, low, lengths, _ = self.get_saved()
        if low is not None:  # 16-bit layer: the saved arrays are float32, the gradients 16-bit
            grads = tuple(None if g is None else A.to_f32(g) for g in grads)
        gy, gh, gc = grads
        nx = self.next
        res = _C.rnn_backward(mode, x, h0, c0, w_ih, w_hh, y, cell, work, gy, gh, gc, reverse,
                              nx[0] is not None, nx[1] is not None, nx[2] is not None,
                              nx[3] is not None or nx[4] is not None, nx[5] is not None or nx[6] is not None,
                              lengths)
        if low is not None:
            return tuple(None if g is None else A.cast(g, low) for g in res)
        return tuple(res)
# --8<-- [end:rnn_node]

    def apply_differentiable(self, grads):
        """The recurrence recomputed step by step with primitive ops (the cell formulas of
        ``nn.RNNCell`` / ``LSTMCell`` / ``GRUCell``; rows past their length keep their state)
        and differentiated with create_graph=True: T small graphs instead of one kernel."""
        mode, reverse, x, h0, c0, w_ih, w_hh, y, cell, work, low, lengths, (b_ih, b_hh) = self.get_saved()
        if low is not None:
            raise RuntimeError(f"derivative for {self.name()} is not implemented for create_graph=True (double "
                               "backward) in 16-bit: compute in float32")
        name = next(k for k, v in _MODES.items() if v == mode)
        inputs = [saved_input(self, i, a) if a is not None else None
                  for i, a in enumerate((x, h0, c0, w_ih, w_hh, b_ih, b_hh))]
        T = x.shape[0]
        valid = None if lengths is None else [Tensor._wrap(A.cast((lengths > t)[:, None], x.dtype)) for t in range(T)]

        def layer(X, H0, C0, WI, WH, BI, BH):
            h, c, ys = H0, C0, [None] * T
            for t in (reversed(range(T)) if reverse else range(T)):
                gi = X[t] @ WI.t() + (BI if BI is not None else 0.0)
                gh = h @ WH.t() + (BH if BH is not None else 0.0)
                h_new, c_new = _cell(name, gi, gh, h, c)
                if valid is not None:  # past its length a row keeps its state
                    h_new = h + valid[t] * (h_new - h)
                    c_new = None if c is None else c + valid[t] * (c_new - c)
                h, c, ys[t] = h_new, c_new, h_new
            return stack(ys, 0), h, c

        return recomputed_grads(inputs, layer, tuple(grads))


def _cell(mode: str, gi: Tensor, gh: Tensor, h: Tensor, c):
    """One step of the recurrence from the input part gi = x W_ih^T + b_ih and the hidden part
    gh = h W_hh^T + b_hh of the gates (PyTorch's gate order): (h', c')."""
    if mode == "RNN_TANH":
        return (gi + gh).tanh(), None
    if mode == "RNN_RELU":
        return F.relu(gi + gh), None
    if mode == "LSTM":
        i, f, g, o = (gi + gh).chunk(4, 1)
        c_new = f.sigmoid() * c + i.sigmoid() * g.tanh()
        return o.sigmoid() * c_new.tanh(), c_new
    ir, iz, in_ = gi.chunk(3, 1)  # GRU
    hr, hz, hn = gh.chunk(3, 1)
    r, z = (ir + hr).sigmoid(), (iz + hz).sigmoid()
    n = (in_ + r * hn).tanh()
    return (1.0 - z) * n + z * h, None


def rnn_layer(mode: str, x: Tensor, h0: Tensor, c0, w_ih: Tensor, w_hh: Tensor, b_ih=None, b_hh=None,
              reverse: bool = False, lengths=None):
    """One layer in one direction over a time-major sequence.

    x (T, B, I), h0 / c0 (B, H) (c0 only for "LSTM"), W_ih (G H, I), W_hh (G H, H), b (G H)
    -> (y (T, B, H), h_n (B, H), c_n (B, H) or None). ``mode``: RNN_TANH, RNN_RELU, LSTM, GRU.
    ``lengths`` (an int64 NumPy array (B,), or None = all T): row b has lengths[b] valid steps;
    past them its state is carried unchanged (y there repeats the last state: the caller
    masks it), so h_n / c_n are each row's states at the end of its own sequence.
    float16 / bfloat16 (all operands in the same dtype) compute in float32 inside: the
    operands are widened (exactly), the outputs rounded once to the 16-bit dtype.
    """
    # --8<-- [start:rnn_call]
    m = _MODES[mode]
    lstm = mode == "LSTM"
    low = x._data.dtype if x.dtype in (bfloat16, float16) else None
    prep = (lambda a: A.to_f32(a)) if low is not None else A.contiguous
    xd = prep(x._data)
    h0d = prep(h0._data)
    c0d = prep(c0._data) if lstm else None
    wi, wh = prep(w_ih._data), prep(w_hh._data)
    bi = None if b_ih is None else prep(b_ih._data)
    bh = None if b_hh is None else prep(b_hh._data)
    y, h_n, c_n, cell, work = _C.rnn_forward(m, xd, h0d, c0d, wi, wh, bi, bh, bool(reverse), lengths)
    y_out, h_out, c_out = y, h_n, c_n
    if low is not None:
        y_out, h_out = A.cast(y, low), A.cast(h_n, low)
        c_out = A.cast(c_n, low) if lstm else None
    outs = (Tensor._wrap(y_out), Tensor._wrap(h_out), Tensor._wrap(c_out) if lstm else None)
    inputs = (x, h0, c0 if lstm else None, w_ih, w_hh, b_ih, b_hh)
    if needs_grad(*inputs):
        node = RnnLayerBackward(edges(*inputs), (m, bool(reverse), xd, h0d, c0d, wi, wh, y, cell, work, low, lengths,
                                                 (bi, bh)))
        for i, o in enumerate(outs):
            if o is not None:
                o._node, o._out_idx, o._rg = node, i, True
    return outs
    # --8<-- [end:rnn_call]


def _check_dtype(name, input, weight):
    if input.dtype != weight.dtype:
        raise TypeError(f"{name}: input must have the type {weight.dtype}, got type {input.dtype}")


class RNNBase(Module):
    """Shared by RNN / LSTM / GRU: parameters, initialisation, argument checks, forward.

    ``RNNBase(mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
    dropout=0.0, bidirectional=False, proj_size=0)`` with ``mode`` one of "RNN_TANH",
    "RNN_RELU", "LSTM", "GRU" (as PyTorch's ``nn.RNNBase``); use the subclasses. For layer l
    and direction d (suffix ``_reverse``) it holds ``weight_ih_l{l}`` (G H, I_l),
    ``weight_hh_l{l}`` (G H, H) and, with ``bias``, ``bias_ih_l{l}``, ``bias_hh_l{l}``
    (G H,), where G = 1 (RNN), 4 (LSTM), 3 (GRU), H = hidden_size, I_0 = input_size and
    I_l = D H above (D = 2 if bidirectional else 1). All ~ U(-1/sqrt(H), 1/sqrt(H)).

    >>> from minidl import nn
    >>> lstm = nn.RNNBase("LSTM", 2, 3)
    >>> [(name, tuple(p.shape)) for name, p in lstm.named_parameters()]
    [('weight_ih_l0', (12, 2)), ('weight_hh_l0', (12, 3)), ('bias_ih_l0', (12,)), ('bias_hh_l0', (12,))]
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device=None, dtype=None):
        super().__init__()
        name = {"RNN_TANH": "RNN", "RNN_RELU": "RNN"}.get(mode, mode)
        if proj_size:
            raise NotImplementedError(f"{name}: proj_size (LSTM with projections) is not implemented in minidl; "
                                      "use proj_size=0")
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ValueError(f"{name}: hidden_size must be a positive integer, got {hidden_size}")
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError(f"{name}: num_layers must be a positive integer, got {num_layers}")
        if input_size < 0:
            raise ValueError(f"{name}: input_size must be non-negative, got {input_size}")
        if isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an "
                             f"element being zeroed, got {dropout}")
        self.mode, self._name = mode, name
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, 0
        gh = _GATES[mode] * hidden_size
        D = 2 if bidirectional else 1
        self._flat_weights_names = []
        for layer in range(num_layers):
            for d in range(D):
                sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
                in_size = input_size if layer == 0 else hidden_size * D
                shapes = [("weight_ih", (gh, in_size)), ("weight_hh", (gh, hidden_size))]
                if bias:
                    shapes += [("bias_ih", (gh,)), ("bias_hh", (gh,))]
                for pname, shape in shapes:
                    setattr(self, pname + sfx, Parameter(empty(*shape, dtype=dtype)))
                    self._flat_weights_names.append(pname + sfx)
        self.reset_parameters()

    def reset_parameters(self):
        """Every weight and bias ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)) (PyTorch)."""
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -k, k)

    @property
    def all_weights(self):
        return [[getattr(self, n) for n in self._layer_names(layer, d)]
                for layer in range(self.num_layers) for d in range(2 if self.bidirectional else 1)]

    def _layer_names(self, layer, d):
        sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
        names = ["weight_ih" + sfx, "weight_hh" + sfx]
        return names + (["bias_ih" + sfx, "bias_hh" + sfx] if self.bias else [])

    def _check_hidden(self, h, expected, what):
        if tuple(h.shape) != expected:
            raise ValueError(f"{self._name}: Expected {what} size {expected}, got {tuple(h.shape)}")

    def forward(self, input, hx=None):
        """input (T, B, I) ((B, T, I) with batch_first, or unbatched (T, I)), or a
        ``PackedSequence`` (nn.utils.rnn) of sequences of different lengths; hx: h0 (L D, B, H)
        (LSTM: (h0, c0)), zeros if None. Returns (output (T, B, D H), h_n) / (output, (h_n,
        c_n)); for a PackedSequence the output is one too, and h_n holds each sequence's state
        at its own end (in the caller's order)."""
        name, lstm = self._name, self.mode == "LSTM"
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        if input.ndim not in (2, 3):
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.ndim}D tensor of shape "
                             f"{tuple(input.shape)}")
        self._check_input(input)
        batched = input.ndim == 3
        states = self._states_arg(hx, input.ndim)
        x = input if batched else input.unsqueeze(1)
        if states is not None and not batched:
            states = [s.unsqueeze(1) for s in states]
        if self.batch_first and batched:
            x = x.transpose(0, 1)
        if x.shape[0] == 0:
            raise ValueError(f"{name}: Expected sequence length to be larger than 0, got input of shape "
                             f"{tuple(input.shape)}")
        output, h_n, c_n = self._run_layers(x, states, None, "" if batched else " (unbatched input: hidden size "
                                            f"{(self.num_layers * (2 if self.bidirectional else 1), self.hidden_size)}"
                                            " per sequence)")
        if self.batch_first and batched:
            output = output.transpose(0, 1)
        if not batched:
            output, h_n = output.squeeze(1), h_n.squeeze(1)
            c_n = c_n.squeeze(1) if lstm else None
        return (output, (h_n, c_n)) if lstm else (output, h_n)

    def _check_input(self, input):
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{self._name}: input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                             f"got {input.shape[-1]} (input of shape {tuple(input.shape)})")
        if not self._autocasting():
            _check_dtype(self._name, input, getattr(self, self._flat_weights_names[0]))

    def _autocasting(self) -> bool:
        # under autocast the LSTM / RNN layers cast input, states and weights to one dtype
        # (a 16-bit state carried over from the previous step is fine, as in PyTorch)
        return _amp.active and _amp.is_autocast_enabled() and self.mode.lower() in _amp.LOWER_PRECISION_OPS

    def _states_arg(self, hx, ndim):
        """hx as a list [h0] or [h0, c0] (None if not given), checked for rank."""
        name, lstm = self._name, self.mode == "LSTM"
        if lstm and hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise TypeError(f"{name}: hx must be a tuple (h0, c0), got {type(hx).__name__}")
        states = (list(hx) if lstm else [hx]) if hx is not None else None
        for s in states or ():
            if s.ndim != ndim:
                kind = "batched 3-D" if ndim == 3 else "unbatched 2-D"
                raise ValueError(f"{name}: For {kind} input, hx should also be {ndim}-D but got "
                                 f"{s.ndim}-D tensor of shape {tuple(s.shape)}")
        return states

    def _forward_packed(self, packed, hx):
        """A PackedSequence through the layers: unpacked into a padded time-major batch (sorted
        longest first), run with each row's length (the kernel carries a finished row's state),
        packed again; hx and h_n are permuted between the caller's order and the sorted one."""
        data, batch_sizes, sorted_indices, unsorted_indices = packed
        if data.ndim != 2:
            raise ValueError(f"{self._name}: a PackedSequence's data must be (sum of lengths, input_size), got "
                             f"shape {tuple(data.shape)}")
        self._check_input(data)
        sizes = batch_sizes.numpy().astype(np.int64)
        T, B = sizes.size, int(sizes[0])
        rows = tensor(_positions(sizes, B))
        x = index_copy(zeros(T * B, data.shape[1], dtype=data.dtype), 0, rows, data).reshape(T, B, data.shape[1])
        states = self._states_arg(hx, 3)
        if states is not None and sorted_indices is not None:
            states = [index_select(s, 1, sorted_indices) for s in states]
        output, h_n, c_n = self._run_layers(x, states, _lengths_of(sizes), "")
        out_data = index_select(output.reshape(T * B, output.shape[2]), 0, rows)
        if unsorted_indices is not None:
            h_n = index_select(h_n, 1, unsorted_indices)
            c_n = index_select(c_n, 1, unsorted_indices) if c_n is not None else None
        output = PackedSequence(out_data, batch_sizes, sorted_indices, unsorted_indices)
        return (output, (h_n, c_n)) if self.mode == "LSTM" else (output, h_n)

    def _run_layers(self, x, states, lengths, hidden_note):
        """x (T, B, I) time-major, states [h0] / [h0, c0] (L D, B, H) or None, lengths (B,) int64
        NumPy or None -> (output (T, B, D H), h_n, c_n or None)."""
        lstm, autocasting = self.mode == "LSTM", self._autocasting()
        w0 = getattr(self, self._flat_weights_names[0])
        D = 2 if self.bidirectional else 1
        expected = (self.num_layers * D, x.shape[1], self.hidden_size)
        if states is None:
            z = zeros(*expected, dtype=w0.dtype)
            states = [z, z] if lstm else [z]
        else:
            for s, what in zip(states, ("hidden", "cell")):
                self._check_hidden(s, expected, what + hidden_note)
                if not autocasting:
                    _check_dtype(self._name, s, w0)
        h_out, c_out = [], []
        layer_in = x
        for layer in range(self.num_layers):
            ys = []
            for d in range(D):
                idx = layer * D + d
                names = self._layer_names(layer, d)
                w = [getattr(self, n) for n in names] + [None, None]
                args = (layer_in, states[0][idx], states[1][idx] if lstm else None, *w[:4])
                if autocasting:  # LSTM and RNN layers run in the autocast dtype, GRU in float32 (as PyTorch)
                    args = _amp.autocast_inputs(self.mode.lower(), *args)
                y, h_n, c_n = rnn_layer(self.mode, *args, reverse=d == 1, lengths=lengths)
                ys.append(y)
                h_out.append(h_n)
                c_out.append(c_n)
            layer_in = ys[0] if D == 1 else cat(ys, 2)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_in = F.dropout(layer_in, self.dropout, True)
        return layer_in, stack(h_out, 0), stack(c_out, 0) if lstm else None

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        for key, default in (("bias", True), ("batch_first", False), ("dropout", 0.0), ("bidirectional", False)):
            if getattr(self, key) != default:
                s += f", {key}={getattr(self, key)}"
        return s


class RNN(RNNBase):
    """Elman RNN, h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu), stacked
    ``num_layers`` deep. input (T, B, input_size) -> (output (T, B, D hidden), h_n (L D, B, hidden)).

    T is the sequence length, B the batch, L = ``num_layers``, D = 2 if ``bidirectional``
    else 1. ``batch_first=True``: input and output are (B, T, .) (h_n stays (L D, B, H)); an
    unbatched (T, input_size) input gives (T, D H) and (L D, H). ``forward(input, h0=None)``,
    h0 (L D, B, H) defaulting to zeros. ``output`` holds the last layer's h_t for every t,
    ``h_n`` every layer's final state. Parameters per layer l: ``weight_ih_l{l}`` (H, I),
    ``weight_hh_l{l}`` (H, H), ``bias_ih_l{l}``, ``bias_hh_l{l}`` (H,), all
    ~ U(-1/sqrt(H), 1/sqrt(H)). ``dropout`` is applied between layers in training.

    >>> import minidl as md
    >>> from minidl import nn
    >>> rnn = nn.RNN(4, 8, num_layers=2, batch_first=True)
    >>> rnn
    RNN(4, 8, num_layers=2, batch_first=True)
    >>> output, h_n = rnn(md.zeros(3, 5, 4))       # batch 3, 5 steps, 4 features
    >>> output.shape, h_n.shape
    (minidl.Size([3, 5, 8]), minidl.Size([2, 3, 8]))
    >>> [(name, tuple(p.shape)) for name, p in nn.RNN(4, 8).named_parameters()]
    [('weight_ih_l0', (8, 4)), ('weight_hh_l0', (8, 8)), ('bias_ih_l0', (8,)), ('bias_hh_l0', (8,))]
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, 0, device, dtype)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory (Hochreiter & Schmidhuber, 1997) with PyTorch's gate order i, f,
    g, o. input (T, B, input_size) -> (output (T, B, D hidden), (h_n, c_n) each (L D, B, hidden)).
    ``proj_size`` > 0 raises NotImplementedError.

    Per step: i, f, o = sigmoid(.), g = tanh(.) of x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh
    (the four gates stacked in that order along the first weight dim), c_t = f c_{t-1} + i g,
    h_t = o tanh(c_t). The cell state c is updated additively, which is why the gradient
    survives many steps. ``forward(input, (h0, c0)=None)`` (zeros if None). Parameters per
    layer: ``weight_ih_l{l}`` (4H, I), ``weight_hh_l{l}`` (4H, H), biases (4H,), all
    ~ U(-1/sqrt(H), 1/sqrt(H)). Shapes for ``batch_first``, unbatched input and
    ``bidirectional`` as in :class:`RNN`.

    >>> import minidl as md
    >>> from minidl import nn
    >>> lstm = nn.LSTM(4, 8, bidirectional=True)
    >>> lstm
    LSTM(4, 8, bidirectional=True)
    >>> output, (h_n, c_n) = lstm(md.zeros(5, 3, 4))  # 5 steps, batch 3, 4 features
    >>> output.shape, h_n.shape, c_n.shape            # output: both directions, 2 * 8
    (minidl.Size([5, 3, 16]), minidl.Size([2, 3, 8]), minidl.Size([2, 3, 8]))
    >>> lstm.weight_ih_l0.shape, lstm.weight_hh_l0_reverse.shape
    (minidl.Size([32, 4]), minidl.Size([32, 8]))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device, dtype)


class GRU(RNNBase):
    """Gated recurrent unit (Cho et al., 2014) as PyTorch computes it (gates r, z, n; the reset
    gate multiplies W_hn h + b_hn). input (T, B, input_size) -> (output, h_n (L D, B, hidden)).

    Per step: r = sigmoid(x W_ir^T + b_ir + h W_hr^T + b_hr), z = sigmoid(x W_iz^T + b_iz +
    h W_hz^T + b_hz), n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn)), h' = (1 - z) n + z h.
    Fewer parameters than the LSTM (3 gates, no cell state) for similar results on many
    tasks. Parameters per layer: ``weight_ih_l{l}`` (3H, I) (rows r, z, n),
    ``weight_hh_l{l}`` (3H, H), biases (3H,), all ~ U(-1/sqrt(H), 1/sqrt(H)). Shapes as in
    :class:`RNN`, output (T, B, D H).

    >>> import minidl as md
    >>> from minidl import nn
    >>> gru = nn.GRU(4, 8)
    >>> output, h_n = gru(md.zeros(5, 3, 4))
    >>> output.shape, h_n.shape, gru.weight_ih_l0.shape
    (minidl.Size([5, 3, 8]), minidl.Size([1, 3, 8]), minidl.Size([24, 4]))
    >>> output, h_n = gru(md.zeros(5, 4))           # unbatched: (T, input_size)
    >>> output.shape, h_n.shape
    (minidl.Size([5, 8]), minidl.Size([1, 8]))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, device=None,
                 dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         0, device, dtype)
