"""The bytes of a returned image: what format they are, whether they decode within our limits
(Pillow's bomb guard made strict), what they measure, and their durable file."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ...files import write_atomic
from ...suites.images import image_format


def sniff_ext(data: bytes) -> str:
    """File extension from the first bytes (the name must not wait for a full decode)."""
    return image_format(data) or "bin"


# The largest image Seedream 4.5 returns has 16,777,216 pixels (4096x4096); twice that leaves room
# for another model's sizes. Pillow's own guard only warns below 179 million pixels: a 657 KB PNG
# under it took about 1 GB to decode, and a run decodes several at once.
MAX_DECODED_PIXELS = 2 * 16_777_216
# What Seedream returns; every other decoder Pillow has stays out of reach of a server's bytes.
DECODERS = ("JPEG", "PNG", "WEBP")
_warning_is_error = False


def strict_pillow() -> None:
    """Pillow's bomb guard at our limit, and its warning (over the limit, under twice it) an
    error. The limit is set on every call: it is a global another library may have changed."""
    global _warning_is_error
    import warnings

    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_DECODED_PIXELS
    if not _warning_is_error:
        warnings.filterwarnings("error", category=Image.DecompressionBombWarning)
        _warning_is_error = True


def inspect_image(data: bytes) -> dict[str, Any]:
    """Decode fully (a truncated file fails here) and measure: format, width, height, and the
    grey-level variance of a 64x64 thumbnail. Raises ValueError when it does not decode, or
    would take more than MAX_DECODED_PIXELS to (Pillow reads that from the header, before
    decoding anything)."""
    from PIL import Image, ImageStat, UnidentifiedImageError

    strict_pillow()
    try:
        with Image.open(io.BytesIO(data), formats=DECODERS) as img:
            fmt = img.format or "unknown"
            width, height = img.size
            # A JPEG decodes straight to a reduced grey image: the checks need no more.
            img.draft("L", (256, 256))
            img.load()
            grey = img.convert("L")
            grey.thumbnail((64, 64))
            variance = float(ImageStat.Stat(grey).var[0])
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as e:
        raise ValueError(f"{type(e).__name__}: {e}") from None
    return {"format": fmt, "width": width, "height": height, "variance": round(variance, 3)}


def save_image(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data, umask_mode=True)
