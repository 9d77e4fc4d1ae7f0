"""Networks rewritten for inference: the same function as the trained model, computed faster.

Three exact rewrites of the SRResNet generator, each checked against the original in the tests:

1. BatchNorm folding. In eval mode a BatchNorm after a convolution is an affine map per channel, so
   it can be merged into the convolution's weights and bias (``fold_batchnorm``).
2. Sub-pixel tail. The last layer, a 9×9 convolution with 3 output channels at the full output
   resolution, is the slowest layer on CPUs (oneDNN runs 3-channel outputs at a fraction of its
   speed) and it reads the largest tensor, the one that the last PixelShuffle just rearranged.
   The same linear map can be computed before that shuffle, on the half-resolution tensor, as a
   5×5 convolution with 4× the channels in and out, followed by a tiny PixelShuffle of 12
   channels (``SubpixelTail``). A single-α PReLU commutes with PixelShuffle, so it moves too.
3. Fused kernels (CPU only). oneDNN can apply a convolution's bias, activation and residual sum in
   one pass over memory. PReLU with a single α is LeakyReLU with slope α, which oneDNN fuses; the
   residual additions fuse as a binary post-op. ``FusedGenerator`` calls the same oneDNN ops that
   ``torch.compile`` emits for these patterns, with weights re-laid-out ("prepacked") once, but
   without a compiler, so the first image is as fast as the hundredth.

Measured on a 2-core AVX-512-BF16 CPU, 256×256 → 1024×1024, bf16 (see benchmarks/infer_speed.py):
the sub-pixel tail gains about 1.3×, fusion plus prepacking another 1.4×. ``torch.compile`` with
freezing on top of (1) and (2) gained 10% after 25 s of compilation, less than (3), so it is not used.

``prepare`` picks the best form that works on the device and precision at hand, and falls back to
the plain folded network (still with the sub-pixel tail) whenever the fused ops are unavailable.

The plain network's convolutions on the CPU run in strips of rows (``conv_in_strips``). Where oneDNN has
no kernel for a dtype (bf16 on CPUs without AVX-512, such as AVX2 laptops) or is missing from the build,
PyTorch uses its own convolution, which first copies each output pixel's k²·C_in inputs into one buffer
(im2col). For the sub-pixel tail that is 6,400 values per pixel at twice the tile's resolution, 3 GB in
bf16 for a 212×272-pixel window (fp32: 6 GB): one such window of the ×4 SRResNet peaked at 3.56 GB RSS
in bf16 with oneDNN capped at AVX2 (``ONEDNN_MAX_CPU_ISA``). Strips cap that buffer at ``STRIP_BYTES``:
0.64 GB for the same window.
"""

from __future__ import annotations

import copy
import logging

import torch
import torch.nn.functional as F
from torch import nn

from srgan.errors import SrganError

log = logging.getLogger(__name__)

# The dtype a prepared network takes and returns; the int8 network's inputs and outputs are float32.
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16, "int8": torch.float32}


def dtype_of(precision: str) -> torch.dtype:
    return _DTYPES[precision]


# ------------------------------------------------------------------------------------ BatchNorm folding


def fold_batchnorm(generator: nn.Module) -> nn.Module:
    """A copy of an SRResNet generator with every conv→BN pair merged into the conv (eval mode).

    The BatchNorms become ``nn.Identity``, so the copy has the same structure and ``forward``; the
    original is not touched.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    g = copy.deepcopy(generator).eval()
    for block in g.blocks:
        block.conv1 = fuse_conv_bn_eval(block.conv1, block.bn1)
        block.bn1 = nn.Identity()
        block.conv2 = fuse_conv_bn_eval(block.conv2, block.bn2)
        block.bn2 = nn.Identity()
    g.body_conv = fuse_conv_bn_eval(g.body_conv, g.body_bn)
    g.body_bn = nn.Identity()
    return g


def _single_alpha(prelu: nn.PReLU) -> float:
    if prelu.weight.numel() != 1:
        raise ValueError("fast inference needs single-parameter PReLUs")
    return float(prelu.weight.detach().reshape(-1)[0])


# ---------------------------------------------------------------------------------------- sub-pixel tail


def subpixel_weights(weight: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights of the conv on a ×2 PixelShuffle's *input* equal to ``weight`` on its output.

    PixelShuffle(2) puts input channel ``4c + 2i + j`` at output pixel ``(2y + i, 2x + j)`` of
    channel ``c``. An output pixel ``(2Y + a, 2X + b)`` of the original k×k convolution reads the
    shuffled pixel at offset ``(dy, dx)``; on the unshuffled grid that is cell offset
    ``(dy + a - i) / 2`` and sub-pixel ``(i, j)``. Gathering those taps gives a convolution with
    ``4 × in`` input and ``4 × out`` output channels (output ``4o + 2a + b``, ready for another
    PixelShuffle) and kernel size ``2 ⌈r / 2⌉ + 1`` for radius ``r = k // 2``. Zero padding of ``r``
    shuffled pixels is zero padding of ``⌈r / 2⌉`` cells, so borders match exactly too.
    """
    out_ch, in_ch, k, k2 = weight.shape
    if k != k2 or k % 2 == 0:
        raise ValueError("sub-pixel rewrite needs an odd square kernel")
    r = k // 2
    half = (r + 1) // 2
    taps = 2 * half + 1
    w = weight.new_zeros(out_ch * 4, in_ch * 4, taps, taps)
    for a in range(2):
        for b in range(2):
            for i in range(2):
                for j in range(2):
                    for ty in range(taps):
                        dy = 2 * (ty - half) + i - a
                        if abs(dy) > r:
                            continue
                        for tx in range(taps):
                            dx = 2 * (tx - half) + j - b
                            if abs(dx) > r:
                                continue
                            w[2 * a + b :: 4, 2 * i + j :: 4, ty, tx] = weight[:, :, dy + r, dx + r]
    return w, bias.repeat_interleave(4)


# Cap on the im2col buffer of one strip in ``conv_in_strips``: large enough that a strip is a big GEMM
# (several rows of a 256-pixel tile even for the tail), small next to the 1.5 GB a 4K upscale may use.
STRIP_BYTES = 64 * 2**20


def conv_in_strips(conv: nn.Conv2d, x: torch.Tensor, budget: int = STRIP_BYTES) -> torch.Tensor:
    """``conv(x)`` for a stride-1, "same"-padded conv, computed in strips of output rows whose im2col
    buffer (k²·C_in values per output pixel) stays under ``budget`` bytes; exact, same layout out."""
    if conv.stride != (1, 1) or conv.dilation != (1, 1) or conv.groups != 1:
        raise ValueError("conv_in_strips needs a stride-1, undilated, ungrouped convolution")
    (k_h, k_w), (p_h, p_w) = conv.kernel_size, conv.padding
    n, c, h, w = x.shape
    rows = max(1, budget // (n * c * k_h * k_w * w * x.element_size()))
    if rows >= h or not uses_im2col(conv, x):
        return conv(x)
    out = x.new_empty(n, conv.out_channels, h, w).contiguous(memory_format=torch.channels_last)
    for top in range(0, h, rows):
        bottom = min(h, top + rows)
        lo, hi = max(0, top - p_h), min(h, bottom + p_h)
        # Zero rows only where the strip meets the image's edge, as the whole conv's padding would give.
        strip = F.pad(x[:, :, lo:hi], (0, 0, p_h - (top - lo), p_h - (hi - bottom)))
        out[:, :, top:bottom] = F.conv2d(strip, conv.weight, conv.bias, padding=(0, p_w))
    return out


def uses_im2col(conv: nn.Conv2d, x: torch.Tensor) -> bool:
    """Whether PyTorch runs ``conv(x)`` with its own im2col kernels, asked of PyTorch itself: they are
    picked per dtype, build and CPU (oneDNN, which needs no such buffer, runs the rest; cutting its
    convolutions into strips only costs calls)."""
    try:
        backend = torch._C._select_conv_backend(
            x, conv.weight, conv.bias, list(conv.stride), list(conv.padding), list(conv.dilation), False, [0, 0],
            conv.groups, None,
        )
    except (AttributeError, RuntimeError, TypeError):  # a private helper; without it, assume the worst
        return True
    return "Slow" in str(backend)


class SubpixelTail(nn.Module):
    """The generator's last PReLU + 9×9 conv, computed before the last PixelShuffle (see module doc)."""

    def __init__(self, last_prelu: nn.PReLU, tail: nn.Conv2d) -> None:
        super().__init__()
        self.alpha = _single_alpha(last_prelu)
        weight, bias = subpixel_weights(tail.weight.detach(), tail.bias.detach())
        taps = weight.shape[-1]
        self.conv = nn.Conv2d(weight.shape[1], weight.shape[0], taps, padding=taps // 2)
        with torch.no_grad():
            self.conv.weight.copy_(weight)
            self.conv.bias.copy_(bias)

    def forward(self, unshuffled: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.conv(F.leaky_relu(unshuffled, self.alpha)), 2)


class InferenceGenerator(nn.Module):
    """SRResNet with BN folded, PReLU as LeakyReLU, and the sub-pixel tail; plain PyTorch ops.

    Runs anywhere (CPU, CUDA, MPS) and exports to ONNX; ``FusedGenerator`` is the CPU-only fast form.
    ``strip_bytes`` (set by ``prepare`` on the CPU) runs each conv through ``conv_in_strips``.
    """

    strip_bytes: int | None = None

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        g = fold_batchnorm(generator)
        self.config = g.config
        self.head = g.head
        self.head_alpha = _single_alpha(g.head_act)
        self.blocks = nn.ModuleList()
        self.block_alphas: list[float] = []
        for block in g.blocks:
            self.blocks.append(nn.ModuleList([block.conv1, block.conv2]))
            self.block_alphas.append(_single_alpha(block.prelu))
        self.body_conv = g.body_conv
        self.up_convs = nn.ModuleList(u.conv for u in g.upsample)
        self.up_alphas = [_single_alpha(u.prelu) for u in g.upsample[:-1]]
        self.tail = SubpixelTail(g.upsample[-1].prelu, g.tail)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.strip_bytes:
            return self.tail(self.before_tail(x))
        # In place: the largest tensor of a tile (4·C channels at twice its side) need not exist twice.
        h = F.leaky_relu(self.before_tail(x), self.tail.alpha, inplace=True)
        return F.pixel_shuffle(self._conv(self.tail.conv, h), 2)

    def before_tail(self, x: torch.Tensor) -> torch.Tensor:
        """Everything up to the last upsampling conv's output, before its PReLU and shuffle."""
        conv = self._conv
        features = F.leaky_relu(conv(self.head, x), self.head_alpha)
        h = features
        for (conv1, conv2), alpha in zip(self.blocks, self.block_alphas):
            h = h + conv(conv2, F.leaky_relu(conv(conv1, h), alpha))
        h = features + conv(self.body_conv, h)
        for up, alpha in zip(self.up_convs[:-1], self.up_alphas):
            h = F.leaky_relu(F.pixel_shuffle(conv(up, h), 2), alpha)
        return conv(self.up_convs[-1], h)

    def _conv(self, conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
        return conv_in_strips(conv, x, self.strip_bytes) if self.strip_bytes else conv(x)


# ------------------------------------------------------------------------------------------ fused (CPU)


class _FusedConv:
    """One convolution with its weights prepacked for oneDNN and an optional fused post-op."""

    def __init__(self, conv: nn.Conv2d, dtype: torch.dtype) -> None:
        self.padding = list(conv.padding)
        self.stride = list(conv.stride)
        self.bias = None if conv.bias is None else conv.bias.detach().to(dtype)
        weight = conv.weight.detach().to(dtype).contiguous(memory_format=torch.channels_last)
        # Re-laying the weights out once here, rather than on every call, is worth ~15% at bf16.
        self.weight = torch._C._nn.mkldnn_reorder_conv2d_weight(
            weight.to_mkldnn(), self.padding, self.stride, [1, 1], 1, None
        )

    def __call__(self, x: torch.Tensor, alpha: float | None = None, add: torch.Tensor | None = None) -> torch.Tensor:
        ops = torch.ops.mkldnn
        if add is not None:
            return ops._convolution_pointwise.binary(
                x, add, self.weight, self.bias, self.padding, self.stride, [1, 1], 1, "add", None, None, [], None
            )
        if alpha is not None:
            # LeakyReLU with slope 0 is ReLU (FFDNet's blocks), which oneDNN fuses the same way.
            return ops._convolution_pointwise(
                x, self.weight, self.bias, self.padding, self.stride, [1, 1], 1, "leaky_relu", [alpha], ""
            )
        return ops._convolution_pointwise(x, self.weight, self.bias, self.padding, self.stride, [1, 1], 1, "none", [], "")


class FusedGenerator:
    """``InferenceGenerator`` as fused oneDNN calls on CPU: channels_last input of ``dtype`` in, same out.

    Not an ``nn.Module``: it holds prepacked (opaque oneDNN) weights and only runs forward.
    """

    def __init__(self, net: InferenceGenerator, dtype: torch.dtype) -> None:
        self.dtype = dtype
        self.head = _FusedConv(net.head, dtype)
        self.head_alpha = net.head_alpha
        self.blocks = [
            (_FusedConv(c1, dtype), alpha, _FusedConv(c2, dtype)) for (c1, c2), alpha in zip(net.blocks, net.block_alphas)
        ]
        self.body = _FusedConv(net.body_conv, dtype)
        alphas = [*net.up_alphas, net.tail.alpha]
        self.ups = [(_FusedConv(conv, dtype), alpha) for conv, alpha in zip(net.up_convs, alphas)]
        self.tail = _FusedConv(net.tail.conv, dtype)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(x, alpha=self.head_alpha)
        h = features
        for conv1, alpha, conv2 in self.blocks:
            h = conv2(conv1(h, alpha=alpha), add=h)
        h = self.body(h, add=features)
        # PReLU(shuffle(y)) == shuffle(LeakyReLU(y)) for one α, so each activation fuses into its conv.
        for i, (conv, alpha) in enumerate(self.ups):
            h = conv(h, alpha=alpha)
            if i < len(self.ups) - 1:
                h = F.pixel_shuffle(h, 2)
        return F.pixel_shuffle(self.tail(h), 2)


class FusedFFDNet:
    """``srgan.models.ffdnet.FFDNet`` as fused oneDNN calls on CPU: ``(noisy, sigma)`` channels_last of ``dtype``
    in, the denoised images out. Each residual block's ReLU fuses into its first convolution and its sum into its
    second, and ``noisy − noise`` into the exit convolution (its weights negated, the unshuffled input added), so
    the only elementwise passes left are the U-Net's skip sums. Like ``FusedGenerator``, not an ``nn.Module``."""

    def __init__(self, net: nn.Module, dtype: torch.dtype) -> None:
        def blocks(seq: nn.Sequential) -> list[tuple[_FusedConv, _FusedConv]]:
            return [(_FusedConv(b.conv1, dtype), _FusedConv(b.conv2, dtype)) for b in seq]

        self.dtype = dtype
        self.stride = net.stride
        self.entry = _FusedConv(net.entry, dtype)
        self.encoders = [blocks(e) for e in net.encoders]
        self.downs = [_FusedConv(d, dtype) for d in net.downs]
        self.body = blocks(net.body)
        self.ups = [_FusedConv(u, dtype) for u in net.ups]
        self.decoders = [blocks(d) for d in net.decoders]
        negated = copy.deepcopy(net.exit)
        with torch.no_grad():
            negated.weight.neg_()
        self.exit = _FusedConv(negated, dtype)

    @staticmethod
    def _blocks(blocks: list[tuple[_FusedConv, _FusedConv]], x: torch.Tensor) -> torch.Tensor:
        for conv1, conv2 in blocks:
            x = conv2(conv1(x, alpha=0.0), add=x)
        return x

    def __call__(self, noisy: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
        from srgan.models.ffdnet import FACTOR, network_input

        unshuffled, x = network_input(noisy, sigma, self.stride)
        x = self.entry(x.contiguous(memory_format=torch.channels_last))
        skips = []
        for blocks, down in zip(self.encoders, self.downs):
            x = self._blocks(blocks, x)
            skips.append(x)
            x = down(x)
        x = self._blocks(self.body, x)
        for up, blocks in zip(self.ups, self.decoders):
            x = self._blocks(blocks, F.pixel_shuffle(up(x), 2) + skips.pop())
        x = self.exit(x, add=unshuffled.contiguous(memory_format=torch.channels_last))
        return F.pixel_shuffle(x, FACTOR)[..., : noisy.shape[-2], : noisy.shape[-1]]


def _fused_ops_available() -> bool:
    return (
        torch.backends.mkldnn.is_available()
        and hasattr(torch.ops.mkldnn, "_convolution_pointwise")
        and hasattr(torch._C._nn, "mkldnn_reorder_conv2d_weight")
    )


def fallback_reason(prepared) -> str | None:
    """Why ``prepare`` gave the plain network on the CPU rather than the fused one (None when it did not)."""
    return getattr(prepared, "fallback_reason", None)


# ---------------------------------------------------------------------------------------------- prepare


def prepare(net: nn.Module, kind: str, device: torch.device, precision: str, fused: bool = True):
    """The fastest exact form of ``net`` for ``device`` and ``precision``: a callable taking a
    channels_last (N, C, H, W) tensor of ``dtype_of(precision)`` on ``device`` and returning the same.

    The generator gets its rewrites (and oneDNN fusion on CPU when ``fused``); the denoiser has no BN
    and a U-Net with concatenations, so it only gets its dtype and layout. FFDNet (told σ: called as
    ``net(x, sigma)``) has no BN either and gets oneDNN fusion on CPU (``FusedFFDNet``).
    """
    dtype = dtype_of(precision)
    if precision == "int8":
        if kind == "denoiser":
            raise SrganError("int8 is available for the ×4 generators; run the denoiser in bf16 or fp32")
        from srgan.infer.int8 import prepare_int8

        return prepare_int8(InferenceGenerator(net.cpu()).eval())
    takes_sigma = getattr(net, "takes_sigma", False)
    if kind != "denoiser":
        net = InferenceGenerator(net.cpu()).eval()
    # The networks with a fused form: the generator (rewritten above) and FFDNet; the blind U-Net has none.
    has_fused = kind != "denoiser" or takes_sigma
    reason = None
    if has_fused and fused and device.type == "cpu":
        reason = "this PyTorch build has no oneDNN fused convolutions"
        if _fused_ops_available():
            plain = net.cpu().eval()
            try:
                if takes_sigma:
                    from srgan.models.ffdnet import CHECK_SIGMA

                    return _self_checked(FusedFFDNet(plain, dtype), plain, dtype, CHECK_SIGMA)
                return _self_checked(FusedGenerator(plain, dtype), plain, dtype)
            except (RuntimeError, ValueError) as exc:  # e.g. bf16 where oneDNN has no bf16 kernels
                reason = str(exc).splitlines()[0]
        # Info only: ``auto`` probes bf16 on every CPU; srgan.infer.model tells users who chose it.
        log.info("%s: fused CPU kernels unavailable (%s); using the plain network", precision, reason)
    net = copy.deepcopy(net).eval().to(device=device, dtype=dtype).to(memory_format=torch.channels_last)
    for p in net.parameters():
        p.requires_grad_(False)
    if has_fused and device.type == "cpu":
        net.fallback_reason = reason
    if isinstance(net, InferenceGenerator) and device.type == "cpu":
        net.strip_bytes = STRIP_BYTES
    return net


def _self_checked(fused, plain: nn.Module, dtype: torch.dtype, *sigma: float):
    """Run a tiny input through both forms; a build whose fused ops misbehave raises here, not later.
    ``sigma``: the noise level to tell a network that takes one."""
    channels = getattr(plain.config, "in_channels", None) or plain.config.channels
    x = torch.rand(1, channels, 12, 10, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        got = fused(x.to(dtype).contiguous(memory_format=torch.channels_last), *sigma).float()
        want = plain(x, *sigma)
    tolerance = 1e-3 if dtype == torch.float32 else 0.1
    if got.shape != want.shape or not (got - want).abs().max() <= tolerance:
        raise RuntimeError("fused kernels disagree with the plain network")
    return fused
