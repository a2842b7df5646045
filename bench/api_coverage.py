"""How much of PyTorch 2.13's public API minidl speaks: per namespace, the names both have,
and the ones minidl lacks.

    PYTHONPATH=python python3 bench/api_coverage.py [--missing] [--namespace torch.nn]

Namespaces: ``torch`` (functions), ``torch.Tensor`` (methods and properties), ``torch.nn``
(modules), ``torch.nn.functional``, ``torch.nn.init``, ``torch.nn.utils`` and
``torch.nn.utils.rnn``. A "public name" is one without a
leading underscore that is callable (or, on Tensor, any attribute); dtypes, submodules,
constants and deprecated aliases are counted out, so the denominator is the API a learner
calls. ``--required`` checks the names issue 15 lists, one by one (every one must be present
for that issue to be done).
"""
from __future__ import annotations

import argparse
import inspect
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))

import torch  # noqa: E402
import torch.nn.functional  # noqa: E402
import torch.nn.init  # noqa: E402
import torch.nn.utils.rnn  # noqa: E402

import minidl as md  # noqa: E402
import minidl.nn.functional  # noqa: E402
import minidl.nn.init  # noqa: E402
import minidl.nn.utils.rnn  # noqa: E402

# names of torch that are not API a minidl user calls: backends, CUDA/quantized/sparse/JIT
# plumbing, deprecated aliases (the prefixes and names below are skipped in every namespace)
SKIP_PREFIXES = ("cuda", "sparse", "quantize", "fake_quantize", "q_", "mkldnn", "miopen", "cudnn", "fbgemm",
                 "native_", "xpu", "mps", "mtia", "vulkan", "is_vulkan", "to_mkldnn", "to_sparse",
                 "sym_", "jit", "compile", "export", "fx", "_")
SKIP = {"Literal", "ParamSpec", "classproperty", "typename", "Any", "Callable", "Optional", "TypeVar", "Union", "Tuple", "List",
        "Generic", "Dict", "Set", "Sequence", "Iterator", "Mapping", "overload", "wraps", "Iterable", "NamedTuple",
        "Self", "PackedSequence_", "bind", "copy_method_params"}

REQUIRED_BY_ISSUE_15 = {
    "torch": """tril triu diag diagonal diag_embed trace outer dot inner tensordot einsum addmm baddbmm addcmul
        addcdiv lerp cdist norm sort argsort topk kthvalue median msort unique bincount histc searchsorted
        bucketize cumsum cumprod logcumsumexp cummax cummin diff gather scatter scatter_add scatter_reduce
        index_select index_add index_copy index_fill masked_select masked_scatter take take_along_dim nonzero
        argwhere multinomial bernoulli normal poisson randint Generator roll rot90 tile repeat_interleave
        broadcast_to broadcast_tensors meshgrid t movedim unflatten tan erf erfinv logspace clamp_min
        clamp_max rand_like randn_like randint_like zeros_like ones_like full_like empty_like""",
    "torch.Tensor": """tril triu tril_ triu_ diag diagonal trace outer dot inner addmm baddbmm addcmul addcmul_ addcdiv
        addcdiv_ lerp lerp_ norm sort argsort topk kthvalue median msort unique bincount histc cumsum
        cumprod logcumsumexp cummax cummin diff gather scatter scatter_ scatter_add scatter_add_
        scatter_reduce scatter_reduce_ index_select index_add index_add_ index_copy index_copy_ index_fill
        index_fill_ masked_select masked_scatter masked_scatter_ take take_along_dim nonzero argwhere
        roll rot90 tile repeat_interleave broadcast_to movedim unflatten unfold tan erf erfinv clamp_min
        clamp_max new_zeros new_ones new_full new_empty new_tensor type_as element_size nbytes""",
    "torch.nn": """SiLU Mish ELU SELU CELU Softplus Softsign Hardtanh ReLU6 Hardswish Hardsigmoid PReLU LogSigmoid
        Softmin GLU Threshold Tanhshrink Softshrink Hardshrink RReLU GroupNorm InstanceNorm1d InstanceNorm2d
        RMSNorm LocalResponseNorm ConvTranspose1d ConvTranspose2d Unfold Fold Upsample PixelShuffle
        PixelUnshuffle MaxUnpool1d MaxUnpool2d AdaptiveMaxPool1d AdaptiveMaxPool2d AdaptiveAvgPool1d AvgPool1d
        LPPool1d LPPool2d ZeroPad1d ZeroPad2d ConstantPad1d ConstantPad2d ReflectionPad1d ReflectionPad2d
        ReplicationPad1d ReplicationPad2d CircularPad1d CircularPad2d Dropout1d Dropout2d AlphaDropout
        SmoothL1Loss HuberLoss KLDivLoss PoissonNLLLoss GaussianNLLLoss CosineEmbeddingLoss MarginRankingLoss
        HingeEmbeddingLoss TripletMarginLoss SoftMarginLoss MultiLabelSoftMarginLoss MultiMarginLoss
        MultiLabelMarginLoss CTCLoss ParameterList ParameterDict Bilinear EmbeddingBag CosineSimilarity
        PairwiseDistance Unflatten ChannelShuffle""",
    "torch.nn.functional": """silu mish elu selu celu softplus softsign hardtanh relu6 hardswish hardsigmoid prelu
        logsigmoid softmin glu threshold tanhshrink softshrink hardshrink rrelu group_norm instance_norm
        rms_norm local_response_norm normalize conv_transpose1d conv_transpose2d unfold fold interpolate
        pixel_shuffle pixel_unshuffle max_unpool1d max_unpool2d adaptive_max_pool1d adaptive_max_pool2d
        adaptive_avg_pool1d avg_pool1d lp_pool1d lp_pool2d pad dropout1d dropout2d alpha_dropout
        smooth_l1_loss huber_loss kl_div poisson_nll_loss gaussian_nll_loss cosine_embedding_loss
        margin_ranking_loss hinge_embedding_loss triplet_margin_loss soft_margin_loss
        multilabel_soft_margin_loss multi_margin_loss multilabel_margin_loss ctc_loss bilinear embedding_bag
        cosine_similarity pairwise_distance""",
    "torch.nn.init": "*",  # every function of torch.nn.init
    "torch.nn.utils": "parameters_to_vector vector_to_parameters",
    "torch.nn.utils.rnn": "pad_sequence pack_padded_sequence pad_packed_sequence pack_sequence PackedSequence",
}


def _skipped(name: str) -> bool:
    return name in SKIP or name.startswith(SKIP_PREFIXES) or name.endswith("_backward")


def public_names(namespace: str) -> set:
    """The public API names of a PyTorch namespace, as this script counts them."""
    if namespace == "torch.Tensor":
        return {n for n in dir(torch.Tensor) if not _skipped(n) and not n.startswith("is_") or n in (
            "is_floating_point", "is_contiguous")}
    obj = {"torch": torch, "torch.nn": torch.nn, "torch.nn.functional": torch.nn.functional,
           "torch.nn.init": torch.nn.init, "torch.nn.utils": torch.nn.utils,
           "torch.nn.utils.rnn": torch.nn.utils.rnn}[namespace]
    names = set()
    for n in dir(obj):
        if _skipped(n):
            continue
        v = getattr(obj, n, None)
        if inspect.ismodule(v) or not callable(v) or isinstance(v, torch.dtype):
            continue
        if namespace == "torch.nn" and not (inspect.isclass(v) and issubclass(v, torch.nn.Module)):
            continue  # torch.nn: the modules (nn.functional / nn.init are their own namespaces)
        if namespace == "torch.nn.init" and (n.endswith("_") is False and n + "_" in dir(obj)):
            continue  # the deprecated non-underscore aliases of the init functions
        names.add(n)
    return names


def minidl_has(namespace: str, name: str) -> bool:
    obj = {"torch": md, "torch.Tensor": md.Tensor, "torch.nn": md.nn, "torch.nn.functional": md.nn.functional,
           "torch.nn.init": md.nn.init, "torch.nn.utils": md.nn.utils, "torch.nn.utils.rnn": md.nn.utils.rnn}[namespace]
    return hasattr(obj, name)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--missing", action="store_true", help="list the names minidl lacks")
    p.add_argument("--required", action="store_true", help="check the names issue 15 lists, one by one")
    p.add_argument("--namespace", help="only this namespace (e.g. torch.nn.functional)")
    args = p.parse_args(argv)
    spaces = [args.namespace] if args.namespace else ["torch", "torch.Tensor", "torch.nn", "torch.nn.functional",
                                                      "torch.nn.init", "torch.nn.utils", "torch.nn.utils.rnn"]
    print(f"PyTorch {torch.__version__} public API covered by minidl {md.__version__}")
    print(f"{'namespace':22s} {'has':>5s} {'of':>5s} {'share':>6s}")
    for ns in spaces:
        names = sorted(public_names(ns))
        have = [n for n in names if minidl_has(ns, n)]
        print(f"{ns:22s} {len(have):5d} {len(names):5d} {len(have) / max(len(names), 1):6.0%}")
        if args.missing:
            lacking = [n for n in names if not minidl_has(ns, n)]
            print("   missing:", " ".join(lacking))
    if args.required:
        total = lacking_total = 0
        for ns, text in REQUIRED_BY_ISSUE_15.items():
            if args.namespace and ns != args.namespace:
                continue
            names = sorted(public_names(ns)) if text == "*" else text.split()
            lacking = [n for n in names if not minidl_has(ns, n)]
            total += len(names)
            lacking_total += len(lacking)
            print(f"issue 15, {ns}: {len(names) - len(lacking)} of {len(names)} present"
                  + (f"; missing: {' '.join(lacking)}" if lacking else ""))
        print(f"issue 15 in all: {total - lacking_total} of {total} present")
        return lacking_total
    return 0


if __name__ == "__main__":
    main()
