"""T5/BART-style encoder-decoder (Vaswani et al. 2017; pre-norm as T5, sinusoidal positions as
the original Transformer), around ``nn.Transformer``:

    memory = encoder(sqrt(E) * src_emb(src) + PE, key padding = src == pad_idx)   (N, S, E)
    h      = decoder(sqrt(E) * tgt_emb(tgt_in) + PE, memory, causal mask,
                     key padding = tgt_in == pad_idx, memory padding)            (N, T, E)
    logits = generator(h)                                                        (N, T, tgt_vocab)

Training is teacher forcing: ``tgt_in`` is the target shifted right (BOS first) and the loss
compares ``logits`` with the target itself. ``greedy_decode(src, max_len, bos_idx, eos_idx)``
encodes once, then appends the argmax token one step at a time (rows that produced EOS keep
emitting ``pad_idx``).

state_dict keys: ``src_emb.weight``, ``tgt_emb.weight``, ``transformer.encoder.layers.{i}...``,
``transformer.decoder.layers.{i}.multihead_attn...``, ``transformer.encoder.norm``,
``generator.*`` (``pos.pe`` is a non-persistent buffer). Runs on PyTorch too:
``minidl.models.build(torch.nn).Seq2SeqTransformer``.
"""
import importlib
import math

if "nn" not in globals():  # build(torch.nn) injects `nn` and the classes of positional.py
    from minidl import nn
    from .positional import SinusoidalPositionalEncoding

__all__ = ["Seq2SeqTransformer"]


def _lib():
    return importlib.import_module(nn.__name__.split(".")[0])


class Seq2SeqTransformer(nn.Module):
    """Encoder-decoder Transformer over token ids: forward(src (N, S), tgt_in (N, T)) ->
    logits (N, T, tgt_vocab)."""

    def __init__(self, src_vocab, tgt_vocab, d_model=128, nhead=4, num_encoder_layers=2, num_decoder_layers=2,
                 dim_feedforward=None, dropout=0.1, max_len=512, pad_idx=0, norm_first=True, activation="relu"):
        super().__init__()
        self.d_model, self.pad_idx = d_model, pad_idx
        self.src_emb = nn.Embedding(src_vocab, d_model, padding_idx=pad_idx)
        self.tgt_emb = nn.Embedding(tgt_vocab, d_model, padding_idx=pad_idx)
        self.pos = SinusoidalPositionalEncoding(d_model, max_len=max_len, dropout=dropout)
        self.transformer = nn.Transformer(d_model, nhead, num_encoder_layers, num_decoder_layers,
                                          dim_feedforward or 4 * d_model, dropout, activation=activation,
                                          batch_first=True, norm_first=norm_first)
        self.generator = nn.Linear(d_model, tgt_vocab)
        self._masks = {}

    def _embed(self, emb, idx):
        return self.pos(emb(idx) * math.sqrt(self.d_model))

    def causal_mask(self, t):
        m = self._masks.get(t)
        if m is None:
            m = self._masks[t] = nn.Transformer.generate_square_subsequent_mask(t)
        return m

    @staticmethod
    def _additive(pad):
        # the causal mask is additive (float); a float padding mask beside it avoids PyTorch's
        # "mismatched key_padding_mask and attn_mask" deprecation path
        return _lib().zeros(tuple(pad.shape)).masked_fill(pad, float("-inf"))

    def encode(self, src):
        """memory (N, S, E) and the source padding mask (N, S)."""
        if src.dim() != 2:
            raise ValueError(f"Seq2SeqTransformer: expected src token ids (N, S), got {tuple(src.shape)}")
        pad = src == self.pad_idx
        return self.transformer.encoder(self._embed(self.src_emb, src), src_key_padding_mask=pad), pad

    def decode(self, tgt_in, memory, src_pad):
        """logits (N, T, tgt_vocab) for decoder input tgt_in (N, T) given the encoded source."""
        if tgt_in.dim() != 2:
            raise ValueError(f"Seq2SeqTransformer: expected tgt token ids (N, T), got {tuple(tgt_in.shape)}")
        t = tgt_in.shape[1]
        h = self.transformer.decoder(self._embed(self.tgt_emb, tgt_in), memory, tgt_mask=self.causal_mask(t),
                                     tgt_key_padding_mask=self._additive(tgt_in == self.pad_idx),
                                     memory_key_padding_mask=src_pad, tgt_is_causal=True)
        return self.generator(h)

    def forward(self, src, tgt_in):
        memory, src_pad = self.encode(src)
        return self.decode(tgt_in, memory, src_pad)

    def greedy_decode(self, src, max_len, bos_idx, eos_idx=None):
        """Token ids (N, <= max_len + 1) starting with BOS, by argmax one step at a time."""
        lib = _lib()
        was_training = self.training
        self.eval()
        try:
            with lib.no_grad():
                memory, src_pad = self.encode(src)
                out = lib.full((src.shape[0], 1), bos_idx, dtype=src.dtype)
                done = None
                for _ in range(max_len):
                    nxt = self.decode(out, memory, src_pad)[:, -1].argmax(dim=-1)
                    if eos_idx is not None:
                        if done is not None:
                            nxt = nxt.masked_fill(done, self.pad_idx)
                        done = (nxt == eos_idx) if done is None else (done | (nxt == eos_idx))
                    out = lib.cat((out, nxt.unsqueeze(1).to(out.dtype)), dim=1)
                    if done is not None and bool(done.all()):
                        break
        finally:
            self.train(was_training)
        return out
