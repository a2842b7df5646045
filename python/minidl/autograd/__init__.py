"""Reverse-mode automatic differentiation: ``backward``, ``grad``, ``Function``,
``gradcheck`` / ``gradgradcheck``, higher-order gradients (``create_graph=True``),
``functional`` (vjp, jvp, jacobian, hessian, vhp, hvp), and the grad-mode switches."""
from __future__ import annotations

from ..graph import grad_mode
from .backprop import backward, grad
from .function import Function, FunctionCtx, once_differentiable
from ..graph.grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import gradcheck, gradgradcheck
from ..graph.node import Node
from ..graph.anomaly import (detect_anomaly, is_anomaly_check_nan_enabled, is_anomaly_enabled,
                             set_detect_anomaly)
from . import functional

__all__ = ["Function", "FunctionCtx", "backward", "grad", "gradcheck", "gradgradcheck", "no_grad", "enable_grad",
           "set_grad_enabled", "is_grad_enabled", "inference_mode", "once_differentiable", "grad_mode", "Node",
           "functional", "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled", "is_anomaly_check_nan_enabled"]
