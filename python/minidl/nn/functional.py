"""``md.nn.functional`` (as ``F``): the functional form of every layer, re-exported from the
concept module that defines it (F-function, backward node and Module live side by side in
``nn/<concept>.py``). Nothing is defined here."""
from __future__ import annotations

from ..ops.gemm import linear  # noqa: F401  (the fused GEMM + bias, cpp/ops/gemm)
from .activation import gelu, leaky_relu, relu, sigmoid, tanh  # noqa: F401
from .activation_composed import glu, prelu, rrelu, softmin, tanhshrink  # noqa: F401
from .activation_pointwise import (celu, elu, hardshrink, hardsigmoid, hardswish, hardtanh, logsigmoid,  # noqa: F401
                                   mish, relu6, selu, silu, softplus, softshrink, softsign, threshold)
from .attention import scaled_dot_product_attention  # noqa: F401
from .batchnorm import batch_norm  # noqa: F401
from .conv import conv1d, conv2d  # noqa: F401
from .conv_transpose import conv_transpose1d, conv_transpose2d  # noqa: F401
from .ctc import ctc_loss  # noqa: F401
from .distance import cosine_similarity, pairwise_distance  # noqa: F401
from .dropout import alpha_dropout, dropout, dropout1d, dropout2d  # noqa: F401
from .linear import bilinear  # noqa: F401
from .embedding import embedding, one_hot  # noqa: F401
from .embedding_bag import embedding_bag  # noqa: F401
from .fold import fold, unfold  # noqa: F401
from .groupnorm import group_norm, instance_norm, local_response_norm, normalize, rms_norm  # noqa: F401
from .interpolate import interpolate, upsample, upsample_bilinear, upsample_nearest  # noqa: F401
from .layernorm import layer_norm  # noqa: F401
from .loss import binary_cross_entropy, binary_cross_entropy_with_logits, l1_loss, mse_loss  # noqa: F401
from .loss_softmax import cross_entropy, focal_loss, nll_loss  # noqa: F401
from .loss_margin import (cosine_embedding_loss, hinge_embedding_loss, margin_ranking_loss,  # noqa: F401
                          multi_margin_loss, multilabel_margin_loss, multilabel_soft_margin_loss, soft_margin_loss,
                          triplet_margin_loss)
from .loss_robust import gaussian_nll_loss, huber_loss, kl_div, poisson_nll_loss, smooth_l1_loss  # noqa: F401
from .padding import pad  # noqa: F401
from .pixel_shuffle import pixel_shuffle, pixel_unshuffle  # noqa: F401
from .pooling import adaptive_avg_pool2d, avg_pool1d, avg_pool2d, max_pool1d, max_pool2d  # noqa: F401
from .adaptive_pool import adaptive_avg_pool1d, adaptive_max_pool1d, adaptive_max_pool2d  # noqa: F401
from .lp_pool import lp_pool1d, lp_pool2d  # noqa: F401
from .unpool import max_unpool1d, max_unpool2d  # noqa: F401
from .softmax import log_softmax, softmax  # noqa: F401
