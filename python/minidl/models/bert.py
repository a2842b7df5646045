"""BERT-style encoder classifier (Devlin et al. 2019): bidirectional self-attention over the
whole sequence, then a classifier on a pooled vector.

    h = LayerNorm(tok_emb(idx) + pos_emb[:S])           idx (N, S) int64, BERT's embedding LayerNorm
    h = encoder(h, key_padding_mask = idx == pad_idx)   post-norm, GELU (as BERT)
    v = h[:, 0]            (pooling="cls": the first token, by convention a [CLS] token)
      | mean of h over the non-padding positions         (pooling="mean")
    logits = classifier(dropout(tanh(pooler(v))))        (N, num_classes)

Padding tokens are never attended to (the key padding mask) and are left out of the mean.
state_dict keys: ``tok_emb.weight``, ``pos_emb.weight``, ``emb_norm.*``,
``encoder.layers.{i}.self_attn.in_proj_weight`` ..., ``pooler.*``, ``classifier.*``.
Runs on PyTorch too: ``minidl.models.build(torch.nn).BertClassifier``.
"""
import importlib

if "nn" not in globals():  # build(torch.nn) injects `nn` and the classes of positional.py
    from minidl import nn
    from .positional import LearnedPositionalEncoding

__all__ = ["BertClassifier"]


def _no_grad():
    return importlib.import_module(nn.__name__.split(".")[0]).no_grad()


class BertClassifier(nn.Module):
    """Transformer encoder + classification head; forward(idx (N, S) int64) -> (N, num_classes)."""

    def __init__(self, vocab_size, num_classes, max_len=512, d_model=128, nhead=4, num_layers=2,
                 dim_feedforward=None, dropout=0.1, pad_idx=0, pooling="cls"):
        super().__init__()
        if pooling not in ("cls", "mean"):
            raise ValueError(f"BertClassifier: pooling must be 'cls' or 'mean', got {pooling!r}")
        self.pad_idx, self.pooling, self.max_len = pad_idx, pooling, max_len
        self.tok_emb = nn.Embedding(vocab_size, d_model, padding_idx=pad_idx)
        self.pos_emb = LearnedPositionalEncoding(max_len, d_model)
        self.emb_norm = nn.LayerNorm(d_model)
        self.emb_dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward or 4 * d_model, dropout,
                                           activation="gelu", batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.pooler = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(d_model, num_classes)
        # BERT's N(0, 0.02) for the token table too: with nn.Embedding's default N(0, 1) the
        # token vectors would be 50x the position vectors and word order would be nearly
        # invisible to the first layer (the model then learns little beyond bag-of-words)
        nn.init.normal_(self.tok_emb.weight, mean=0.0, std=0.02)
        if pad_idx is not None:
            with _no_grad():
                self.tok_emb.weight[pad_idx] = 0.0

    def features(self, idx):
        """Encoder output h (N, S, E) and the padding mask (N, S) (True = padding)."""
        if idx.dim() != 2:
            raise ValueError(f"BertClassifier: expected token ids of shape (N, S), got {tuple(idx.shape)}")
        pad = idx == self.pad_idx
        h = self.emb_dropout(self.emb_norm(self.pos_emb(self.tok_emb(idx))))
        return self.encoder(h, src_key_padding_mask=pad), pad

    def forward(self, idx):
        h, pad = self.features(idx)
        if self.pooling == "cls":
            v = h[:, 0]
        else:
            keep = (~pad).to(h.dtype).unsqueeze(-1)             # (N, S, 1)
            v = (h * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1.0)
        return self.classifier(self.dropout(self.pooler(v).tanh()))
