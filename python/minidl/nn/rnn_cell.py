"""The recurrent cells: ``RNNCell``, ``LSTMCell``, ``GRUCell``: one time step of the layers in
``nn/rnn.py`` (the same equations, gate order, parameter names and initialisation as
PyTorch's), for loops a program writes itself (decoders, custom recurrences). A step is the
layer kernel run over a sequence of length 1 (cpp/ops/rnn/).
"""
from __future__ import annotations

import math

from ..ops.creation import empty, zeros
from . import init
from .module import Module
from .parameter import Parameter
from .rnn import _GATES, _check_dtype, rnn_layer


class RNNCellBase(Module):
    """Shared by the cells: parameters weight_ih (G H, I), weight_hh (G H, H), bias_ih, bias_hh,
    all U(-1/sqrt(H), 1/sqrt(H)); one step = the layer kernel with T = 1.

    ``RNNCellBase(mode, name, input_size, hidden_size, bias)``, mode one of "RNN_TANH",
    "RNN_RELU", "LSTM", "GRU" and G = 1, 1, 4, 3 (PyTorch's ``RNNCellBase`` takes
    ``(input_size, hidden_size, bias, num_chunks)`` instead); use the subclasses. A cell
    computes one time step, so the loop over time is yours: what you write when the next
    input depends on the last output (decoding, sampling).

    >>> from minidl import nn
    >>> cell = nn.RNNCellBase("GRU", "GRUCell", 2, 3, True)
    >>> cell.weight_ih.shape, cell.weight_hh.shape
    (minidl.Size([9, 2]), minidl.Size([9, 3]))
    """

    def __init__(self, mode: str, name: str, input_size: int, hidden_size: int, bias: bool, device=None,
                 dtype=None):
        super().__init__()
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ValueError(f"{name}: hidden_size must be a positive integer, got {hidden_size}")
        self.mode, self._name = mode, name
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        gh = _GATES[mode] * hidden_size
        self.weight_ih = Parameter(empty(gh, input_size, dtype=dtype))
        self.weight_hh = Parameter(empty(gh, hidden_size, dtype=dtype))
        if bias:
            self.bias_ih = Parameter(empty(gh, dtype=dtype))
            self.bias_hh = Parameter(empty(gh, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -k, k)

    def _step(self, input, states):
        """input (B, I) or (I,), states: list of (B, H) / (H,) or None -> list of new states."""
        name = self._name
        if input.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.ndim}D tensor of shape "
                             f"{tuple(input.shape)}")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{name}: input has inconsistent input_size: got {input.shape[-1]} expected "
                             f"{self.input_size} (input of shape {tuple(input.shape)})")
        _check_dtype(name, input, self.weight_ih)
        batched = input.ndim == 2
        x = input if batched else input.unsqueeze(0)
        B = x.shape[0]
        n_states = 2 if self.mode == "LSTM" else 1
        if states is None:
            z = zeros(B, self.hidden_size, dtype=self.weight_ih.dtype)
            states = [z] * n_states
        else:
            out = []
            for i, s in enumerate(states):
                if s.ndim != input.ndim:
                    raise ValueError(f"{name}: Expected hidden{i} to be {input.ndim}D like the input, got "
                                     f"{s.ndim}D tensor of shape {tuple(s.shape)}")
                s = s if batched else s.unsqueeze(0)
                if s.shape[1] != self.hidden_size:
                    raise ValueError(f"{name}: hidden{i} has inconsistent hidden_size: got {s.shape[1]}, expected "
                                     f"{self.hidden_size} (hidden{i} of shape {tuple(s.shape)})")
                if s.shape[0] != B:
                    raise ValueError(f"{name}: Input batch size {B} doesn't match hidden{i} batch size {s.shape[0]} "
                                     f"(input {tuple(input.shape)}, hidden{i} {tuple(s.shape)})")
                _check_dtype(name, s, self.weight_ih)
                out.append(s)
            states = out
        _, h, c = rnn_layer(self.mode, x.unsqueeze(0), states[0], states[1] if n_states == 2 else None,
                            self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        res = [h, c] if n_states == 2 else [h]
        return res if batched else [r.squeeze(0) for r in res]

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity='{self.nonlinearity}'"
        return s


class RNNCell(RNNCellBase):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu). input (B, I) or (I,), hx (B, H)
    (zeros if None) -> h' (B, H).

    One step of :class:`RNN`. Parameters: ``weight_ih`` (H, I), ``weight_hh`` (H, H),
    ``bias_ih``, ``bias_hh`` (H,), all ~ U(-1/sqrt(H), 1/sqrt(H)).

    >>> import minidl as md
    >>> from minidl import nn
    >>> cell = nn.RNNCell(1, 1)
    >>> with md.no_grad():              # h' = tanh(x + 0.5 h)
    ...     _ = cell.weight_ih.fill_(1.0)
    ...     _ = cell.weight_hh.fill_(0.5)
    ...     _ = cell.bias_ih.zero_()
    ...     _ = cell.bias_hh.zero_()
    >>> h = None
    >>> for x in [1.0, 0.0, -1.0]:      # the loop over time is explicit
    ...     h = cell(md.tensor([[x]]), h)
    ...     print(h)
    tensor([[0.7616]], grad_fn=<RnnLayerBackward>)
    tensor([[0.3634]], grad_fn=<RnnLayerBackward>)
    tensor([[-0.6741]], grad_fn=<RnnLayerBackward>)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: Unknown nonlinearity: {nonlinearity}")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", "RNNCell", input_size, hidden_size,
                         bias, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        return self._step(input, None if hx is None else [hx])[0]


class LSTMCell(RNNCellBase):
    """One LSTM step (gates i, f, g, o): c' = f c + i g, h' = o tanh(c'). input (B, I) or (I,),
    hx = (h, c) each (B, H) (zeros if None) -> (h', c').

    i, f, o = sigmoid(.), g = tanh(.) of x W_ih^T + b_ih + h W_hh^T + b_hh. Parameters:
    ``weight_ih`` (4H, I), ``weight_hh`` (4H, H), ``bias_ih``, ``bias_hh`` (4H,), all
    ~ U(-1/sqrt(H), 1/sqrt(H)).

    >>> import minidl as md
    >>> from minidl import nn
    >>> cell = nn.LSTMCell(3, 5)
    >>> h, c = cell(md.zeros(2, 3))               # batch 2; state (h, c) starts at zeros
    >>> h, c = cell(md.ones(2, 3), (h, c))        # the next step
    >>> h.shape, c.shape, cell.weight_ih.shape
    (minidl.Size([2, 5]), minidl.Size([2, 5]), minidl.Size([20, 3]))
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        super().__init__("LSTM", "LSTMCell", input_size, hidden_size, bias, device, dtype)

    def forward(self, input, hx=None):
        if hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise TypeError(f"LSTMCell: hx must be a tuple (h, c), got {type(hx).__name__}")
        h, c = self._step(input, None if hx is None else list(hx))
        return h, c


class GRUCell(RNNCellBase):
    """One GRU step: r, z = s(.), n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn)),
    h' = (1 - z) n + z h. input (B, I) or (I,), hx (B, H) (zeros if None) -> h' (B, H).

    s is the sigmoid, with r, z computed from x and h as in :class:`GRU`. Parameters:
    ``weight_ih`` (3H, I), ``weight_hh`` (3H, H), ``bias_ih``, ``bias_hh`` (3H,), all
    ~ U(-1/sqrt(H), 1/sqrt(H)).

    >>> import minidl as md
    >>> from minidl import nn
    >>> cell = nn.GRUCell(3, 5)
    >>> cell(md.zeros(2, 3)).shape
    minidl.Size([2, 5])
    >>> cell(md.zeros(3)).shape                   # unbatched
    minidl.Size([5])
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        super().__init__("GRU", "GRUCell", input_size, hidden_size, bias, device, dtype)

    def forward(self, input, hx=None):
        return self._step(input, None if hx is None else [hx])[0]
