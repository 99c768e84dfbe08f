"""Which precision to compute in, and matrix products prepared once for generation's inner loop.

:class:`PreparedLinear` computes ``y = x W^T + b`` like ``F.linear``, for a weight that does not
change between calls, entirely in ``dtype`` (bfloat16 or float32; a bfloat16 product accumulates
in float32 and rounds once). On a CPU with oneDNN the weight is reordered once into the blocked
layout oneDNN's matrix multiply reads (the prepacking that ``torch.compile``'s freezing pass uses
for inference), so no call repacks it. Measured on the 2-core bench machine (AVX-512 BF16, torch
2.13): a (1, 1024) x (1024, 2048) bfloat16 product takes 40 µs prepacked against 88 µs through
``F.linear``; a (64, 512) x (512, 2048) one 162 µs against 218 µs. Elsewhere (CUDA, builds without
oneDNN) it is ``F.linear`` on a weight converted once to ``dtype``. It is a module holding its
weight and bias as buffers, so that a compiler (:mod:`rnnlab.fused`) can take it in unpacked
(``prepack=False``) and lay the weight out itself.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

PRECISIONS = ("auto", "float32", "bfloat16")


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto``: bfloat16 where the hardware multiplies in it natively (CPUs with AVX-512 BF16
    or AMX, CUDA GPUs that support it), else float32. Training computes in it under autocast
    with float32 master weights; generation multiplies in it (see :class:`PreparedLinear`)."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    native = any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)
    return "bfloat16" if native else "float32"


def _onednn_ops():
    """(reorder, linear) from torch's oneDNN namespace, or None where they are missing."""
    try:
        ops = torch.ops.mkldnn
        return ops._reorder_linear_weight, ops._linear_pointwise
    except (AttributeError, RuntimeError):
        return None


class PreparedLinear(nn.Module):
    """``x (B, in) -> x W^T + b (B, out)``, computed and returned in ``dtype``.

    ``batch_size`` is the number of rows the calls will have (a hint for the layout; other row
    counts still give the right answer). ``prepack=False`` keeps the weight as it is (for a
    compiler that packs it itself).
    """

    def __init__(
        self,
        weight: Tensor,
        bias: Tensor | None = None,
        *,
        batch_size: int = 1,
        dtype: torch.dtype = torch.float32,
        prepack: bool = True,
    ) -> None:
        super().__init__()
        weight = weight.detach().to(dtype).contiguous()
        self.dtype = dtype
        self.register_buffer("bias", None if bias is None else bias.detach().to(dtype).contiguous())
        self.out_features, self.in_features = weight.shape
        self._packed = None
        ops = _onednn_ops() if prepack and weight.device.type == "cpu" else None
        if ops is not None and torch.backends.mkldnn.is_available():
            reorder, self._linear = ops
            try:
                self._packed = reorder(weight, batch_size)
                probe = weight.new_zeros(1, self.in_features)
                self._linear(probe, self._packed, self.bias, "none", [], "")
            except RuntimeError:
                self._packed = None
        self.register_buffer("weight", weight if self._packed is None else None)
        self.kernel = "onednn-prepacked" if self._packed is not None else "linear"

    def forward(self, x: Tensor) -> Tensor:
        x = x.to(self.dtype)
        if self._packed is not None:
            return self._linear(x, self._packed, self.bias, "none", [], "")
        if x.shape[0] == 1 and torch.compiler.is_compiling():
            # one row, compiled: one dot product per output, which inductor writes as one
            # vectorised pass over W (a oneDNN call costs ~20 µs at any size on the bench
            # machine); accumulated in float32 and rounded once, as oneDNN does
            y = (x.float().unsqueeze(1) * self.weight.float()).sum(-1)
            return (y if self.bias is None else y + self.bias.float()).to(self.dtype)
        return F.linear(x, self.weight, self.bias)


def at_least_fp32(tensor: Tensor) -> Tensor:
    """``tensor`` in float32, or in its own type when that is wider (float64 stays float64):
    softmaxes and losses of bfloat16 logits are computed this way."""
    return tensor.to(torch.promote_types(tensor.dtype, torch.float32))
