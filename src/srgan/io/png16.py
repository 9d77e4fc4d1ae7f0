"""A small PNG codec (zlib + numpy) for what Pillow cannot do: 16 bits per channel with colour or alpha.

Pillow decodes 48/64-bit PNGs to 8 bits per channel and has no 16-bit RGB mode to encode them, so 16-bit
PNGs with colour or alpha are read and written here; Pillow keeps 16 bits only for plain gray (``I;16``).
The encoder also streams: it filters and compresses a block of rows at a time, which is how images too big
for Pillow's own in-memory copy are written (see :func:`srgan.io.write.write_image`).

Reads colour types 0/2/4/6 (gray, RGB, gray + alpha, RGBA) at 8 or 16 bits, interlaced or not; writes
non-interlaced. Samples are H×W×C arrays in PNG channel order (gray or RGB, then alpha).
"""

from __future__ import annotations

import contextlib
import io
import struct
import zlib
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from PIL import Image

from srgan.io import bigarray
from srgan.io.metadata import EXIF_PREFIX

__all__ = [
    "ADAM7",
    "PNG_SIGNATURE",
    "DecodedPng",
    "PngHeader",
    "decode_png",
    "encode_png",
    "png_header",
    "write_png",
]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}
_PNG_COLOUR_TYPE = {channels: colour_type for colour_type, channels in _PNG_CHANNELS.items()}
# Adam7 passes as (x0, y0, dx, dy).
ADAM7 = (
    (0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)
)


@dataclass
class PngHeader:
    """The IHDR fields this codec looks at."""

    width: int
    height: int
    bit_depth: int
    colour_type: int
    interlace: int


@dataclass
class DecodedPng:
    """A decoded PNG: its samples and the ancillary chunks a Picture keeps."""

    samples: np.ndarray  # H×W×C, uint8 or uint16, channels in PNG order (gray/RGB, then alpha)
    icc_profile: bytes | None
    exif: bytes | None
    transparency: tuple[int, ...] | int | None


def png_header(img: Image.Image) -> PngHeader | None:
    """The IHDR fields of an open PNG, read from its first 29 bytes; None if this is not a PNG."""
    with contextlib.suppress(OSError, AttributeError, ValueError):
        fp = img.fp
        position = fp.tell()
        try:
            fp.seek(0)
            head = fp.read(29)
        finally:
            fp.seek(position)
        if len(head) == 29 and head.startswith(PNG_SIGNATURE) and head[12:16] == b"IHDR":
            width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", head[16:29])
            return PngHeader(width, height, depth, colour_type, interlace)
    return None


def decode_png(data: bytes) -> DecodedPng:
    """Decode a whole PNG; raises ValueError, zlib.error or struct.error if truncated or malformed."""
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG file")
    header: PngHeader | None = None
    idat: list[bytes] = []
    icc = exif = None
    transparency: tuple[int, ...] | int | None = None
    pos = len(PNG_SIGNATURE)
    while pos < len(data):
        if pos + 12 > len(data):
            raise ValueError("file ends inside a chunk header")
        length, kind = struct.unpack_from(">I4s", data, pos)
        body = data[pos + 8 : pos + 8 + length]
        crc = data[pos + 8 + length : pos + 12 + length]
        if len(crc) < 4:
            raise ValueError(f"file ends inside the {kind.decode('latin-1')} chunk")
        if zlib.crc32(kind + body) != int.from_bytes(crc, "big"):
            raise ValueError(f"{kind.decode('latin-1')} chunk fails its CRC check")
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour_type, compression, filtering, interlace = struct.unpack(
                ">IIBBBBB", body
            )
            if depth not in (8, 16) or colour_type not in _PNG_CHANNELS:
                raise ValueError(f"unsupported PNG layout (bit depth {depth}, colour type {colour_type})")
            if compression or filtering or interlace > 1:
                raise ValueError("unknown PNG compression, filter or interlace method")
            header = PngHeader(width, height, depth, colour_type, interlace)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"iCCP":
            # Ancillary: a broken profile costs colour accuracy, not the image.
            with contextlib.suppress(zlib.error, IndexError):
                icc = zlib.decompress(body.partition(b"\x00")[2][1:])
        elif kind == b"eXIf":
            exif = body
        elif kind == b"tRNS" and header is not None and header.colour_type in (0, 2):
            values = struct.unpack(f">{len(body) // 2}H", body[: len(body) // 2 * 2])
            transparency = values[0] if header.colour_type == 0 and values else values or None
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError("no IHDR chunk")
    channels = _PNG_CHANNELS[header.colour_type]
    bpp = channels * header.bit_depth // 8
    passes = ADAM7 if header.interlace else ((0, 0, 1, 1),)
    sizes = [(-(-(header.width - x0) // dx), -(-(header.height - y0) // dy)) for x0, y0, dx, dy in passes]
    expected = sum(h * (1 + w * bpp) for w, h in sizes if w and h)
    inflater = zlib.decompressobj()
    raw = inflater.decompress(b"".join(idat), expected)
    if len(raw) < expected:
        raise ValueError("image data is truncated")

    image = np.zeros((header.height, header.width, bpp), np.uint8)
    offset = 0
    for (x0, y0, dx, dy), (w, h) in zip(passes, sizes):
        if not (w and h):
            continue
        size = h * (1 + w * bpp)
        image[y0::dy, x0::dx] = _unfilter(raw[offset : offset + size], h, w, bpp)
        offset += size
    if header.bit_depth == 16:
        samples = image.view(">u2").astype(np.uint16)
    else:
        samples = image
    return DecodedPng(samples.reshape(header.height, header.width, channels), icc, exif, transparency)


def _unfilter(raw: bytes, height: int, width: int, bpp: int) -> np.ndarray:
    """Undo PNG row filters; returns height×width×bpp bytes.

    Sub, Average and Paeth depend on the already decoded pixel to the left, and Up/Average/Paeth
    on the row above, so no row can be decoded in one vector step. Every pixel depends only on
    pixels up and to the left, though, so all pixels on one anti-diagonal (x + y = d) are
    independent: the loop runs over H + W - 1 diagonals, each decoded in one vector step. Laid
    out with one padding row and column of zeros (the "outside" PNG assumes), a diagonal is a
    plain strided slice of the flattened array.
    """
    rows = np.frombuffer(raw, np.uint8).reshape(height, 1 + width * bpp)
    kinds = rows[:, 0]
    if (kinds > 4).any():
        raise ValueError(f"unknown PNG filter type {int(kinds.max())}")
    filtered = rows[:, 1:].reshape(height, width, bpp)
    if not kinds.any():
        return filtered

    stride = width + 1
    recon = np.zeros(((height + 1) * stride, bpp), np.int16)
    source = np.zeros_like(recon)
    source.reshape(height + 1, stride, bpp)[1:, 1:] = filtered
    kind = np.zeros((height + 1) * stride, np.int8)
    kind.reshape(height + 1, stride)[1:, 1:] = kinds[:, None]
    # Moving one step down-left along a diagonal moves stride - 1 = width places in the flat array.
    for d in range(height + width - 1):
        y_first, y_last = max(0, d - width + 1), min(height - 1, d)
        start = (y_first + 1) * stride + (d - y_first + 1)
        stop = start + (y_last - y_first) * width + 1
        here = slice(start, stop, width)
        a = recon[start - 1 : stop - 1 : width]
        b = recon[start - stride : stop - stride : width]
        c = recon[start - stride - 1 : stop - stride - 1 : width]
        k = kind[here][:, None]
        pa, pb, pc = np.abs(b - c), np.abs(a - c), np.abs(a + b - 2 * c)
        paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
        prediction = np.select([k == 1, k == 2, k == 3, k == 4], [a, b, (a + b) >> 1, paeth], 0)
        recon[here] = (source[here] + prediction) & 0xFF
    return recon.reshape(height + 1, stride, bpp)[1:, 1:].astype(np.uint8)


def encode_png(
    samples: np.ndarray,
    *,
    icc_profile: bytes | None = None,
    exif: bytes | None = None,
    filter_type: int | None = None,
    level: int = 4,
) -> bytes:
    """Encode H×W×C (C = 1, 2, 3, 4) uint8/uint16 samples as a non-interlaced PNG (see :func:`write_png`)."""
    buffer = io.BytesIO()
    write_png(buffer, samples, icc_profile=icc_profile, exif=exif, filter_type=filter_type, level=level)
    return buffer.getvalue()


def write_png(
    out: BinaryIO,
    samples: np.ndarray,
    alpha: np.ndarray | None = None,
    *,
    icc_profile: bytes | None = None,
    exif: bytes | None = None,
    filter_type: int | None = None,
    level: int = 4,
    block_bytes: int = 2**20,
) -> None:
    """Write H×W×C uint8/uint16 samples (plus an optional H×W ``alpha`` plane) as a PNG, streaming.

    Rows are filtered and compressed one block at a time and written as they come, so memory is a few
    blocks whatever the image size, and a file-backed ``samples`` (``srgan.io.bigarray``) gives each block's
    pages back once it is encoded. Each row gets the filter with the smallest sum of absolute (signed)
    residuals, the usual heuristic; ``filter_type`` forces one filter for every row. zlib level 4 rather
    than 6: on 16-bit photo data it is about four times faster for files well under 1% larger.
    """
    height, width = samples.shape[:2]
    channels = samples.shape[2] + (alpha is not None)
    depth = 16 if samples.dtype == np.uint16 else 8
    # The filter search makes about 60 bytes of temporaries per byte of a block: blocks of ~1 MB of
    # pixels keep that near 60 MB however wide the image is.
    block_rows = max(1, block_bytes // (width * channels * depth // 8))

    def chunk(kind: bytes, body: bytes) -> None:
        out.write(struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body)))

    def block(top: int) -> np.ndarray:
        rows = samples[top : top + block_rows]
        if alpha is not None:
            rows = np.concatenate([rows, alpha[top : top + block_rows, :, None]], axis=2)
        data = np.ascontiguousarray(rows, dtype=">u2" if depth == 16 else np.uint8)
        return data.view(np.uint8).reshape(len(rows), width, -1)

    out.write(PNG_SIGNATURE)
    chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, _PNG_COLOUR_TYPE[channels], 0, 0, 0))
    if icc_profile:
        chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc_profile))
    if exif:
        chunk(b"eXIf", exif[len(EXIF_PREFIX) :] if exif.startswith(EXIF_PREFIX) else exif)
    compressor = zlib.compressobj(level)
    above = None
    for top in range(0, height, block_rows):
        pixels = block(top)
        data = compressor.compress(_filter_block(pixels, above, filter_type).tobytes())
        above = pixels[-1:]
        for plane in (samples, alpha):
            if plane is not None:
                bigarray.release(plane, top, top + len(pixels))
        if data:
            chunk(b"IDAT", data)
    chunk(b"IDAT", compressor.flush())
    chunk(b"IEND", b"")


def _filter_block(pixels: np.ndarray, above: np.ndarray | None, filter_type: int | None) -> np.ndarray:
    """PNG scanlines of a block of H×W×bpp bytes, given the row above it (None at the image's top)."""
    rows, width, bpp = pixels.shape
    x = pixels.astype(np.int16)
    b = np.concatenate([above.astype(np.int16) if above is not None else np.zeros_like(x[:1]), x[:-1]])
    a = np.zeros_like(x)
    a[:, 1:] = x[:, :-1]
    c = np.zeros_like(b)
    c[:, 1:] = b[:, :-1]
    pa, pb, pc = np.abs(b - c), np.abs(a - c), np.abs(a + b - 2 * c)
    paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
    candidates = np.stack([x, x - a, x - b, x - ((a + b) >> 1), x - paeth]).astype(np.uint8)
    candidates = candidates.reshape(5, rows, width * bpp)
    if filter_type is None:
        cost = np.abs(candidates.view(np.int8).astype(np.int32)).sum(axis=2)
        choice = cost.argmin(axis=0)
    else:
        choice = np.full(rows, filter_type)
    out = np.empty((rows, 1 + width * bpp), np.uint8)
    out[:, 0] = choice
    out[:, 1:] = candidates[choice, np.arange(rows)]
    return out
