"""``md.nn``: modules, layers, losses, ``functional``, ``init`` and ``utils``."""
from . import functional, init, utils
from .batchnorm import BatchNorm1d, BatchNorm2d
from .sync_batchnorm import SyncBatchNorm
from .layernorm import LayerNorm
from .groupnorm import GroupNorm, InstanceNorm1d, InstanceNorm2d, LocalResponseNorm, RMSNorm
from .pixel_shuffle import PixelShuffle, PixelUnshuffle
from .multihead_attention import MultiheadAttention
from .activation import GELU, LeakyReLU, ReLU, Sigmoid, Tanh
from .activation_composed import GLU, PReLU, RReLU, Softmin, Tanhshrink
from .activation_pointwise import (CELU, ELU, SELU, Hardshrink, Hardsigmoid, Hardswish, Hardtanh, LogSigmoid, Mish,
                                   ReLU6, SiLU, Softplus, Softshrink, Softsign, Threshold)
from .softmax import LogSoftmax, Softmax
from .containers import Identity, ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from .conv import Conv1d, Conv2d
from .conv_transpose import ConvTranspose1d, ConvTranspose2d
from .ctc import CTCLoss
from .embedding import Embedding
from .embedding_bag import EmbeddingBag
from .fold import Fold, Unfold
from .interpolate import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d
from .dropout import AlphaDropout, Dropout, Dropout1d, Dropout2d
from .flatten import ChannelShuffle, Flatten, Unflatten
from .linear import Bilinear, Linear
from .loss import BCELoss, BCEWithLogitsLoss, L1Loss, MSELoss
from .loss_softmax import CrossEntropyLoss, FocalLoss, NLLLoss
from .loss_margin import (CosineEmbeddingLoss, HingeEmbeddingLoss, MarginRankingLoss, MultiLabelMarginLoss,
                          MultiLabelSoftMarginLoss, MultiMarginLoss, SoftMarginLoss, TripletMarginLoss)
from .padding import (CircularPad1d, CircularPad2d, ConstantPad1d, ConstantPad2d, ReflectionPad1d,  # noqa: F401
                      ReflectionPad2d, ReplicationPad1d, ReplicationPad2d, ZeroPad1d, ZeroPad2d)
from .loss_robust import GaussianNLLLoss, HuberLoss, KLDivLoss, PoissonNLLLoss, SmoothL1Loss
from .distance import CosineSimilarity, PairwiseDistance
from .module import Module
from .parameter import Parameter
from .rnn import GRU, LSTM, RNN, RNNBase
from .rnn_cell import GRUCell, LSTMCell, RNNCell, RNNCellBase
from .pooling import AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d
from .adaptive_pool import AdaptiveAvgPool1d, AdaptiveMaxPool1d, AdaptiveMaxPool2d
from .lp_pool import LPPool1d, LPPool2d
from .unpool import MaxUnpool1d, MaxUnpool2d
from .transformer import (Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,
                          TransformerEncoderLayer)
from . import parallel  # noqa: E402 - DistributedDataParallel builds on Module (above)
