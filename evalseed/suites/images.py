"""Images in chat messages (issue 17 item 5): `{type: image_url, image_url: {url: ...}}` parts.

A URL that is `https://`, `http://` or `data:` goes as written. Anything else is a file beside the
suite, confined to its folder as documents are (`paths.check_relative_path`), at most
`MAX_IMAGE_BYTES`, of a format the models read (PNG, JPEG, WebP, GIF by its first bytes), and
is sent as a `data:` URL. Whether a model takes images is its `vision` field in the model table;
a case with an image is skipped, with the reason, on a model without it (`kinds.base`).
"""

from __future__ import annotations

import base64
import os
from functools import lru_cache
from pathlib import Path

from .paths import resolve_in

#: The largest image file a message may carry (before base64, which adds a third). Our cap, not a
#: provider's published one: the request, and the stored `request` of every row, carry it whole.
MAX_IMAGE_BYTES = 10 * 1024 * 1024
#: What one image adds to a prompt's estimated size, for budgets and dry runs (a rough upper
#: figure: vision models count an image as a few hundred to about a thousand tokens).
IMAGE_TOKENS = 1_000
_REMOTE = ("https://", "http://", "data:")
_MIME = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp", "gif": "image/gif"}


def is_local(url: str) -> bool:
    return not url.strip().lower().startswith(_REMOTE)


def image_format(data: bytes) -> str | None:
    """The image format of a file from its first bytes (jpg, png, webp, gif), or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return None


def check_local_image(raw: str, suite_dir: str | None) -> Path | None:
    """The file a local image URL names, checked: inside the suite's folder, not over the size
    cap, an image format. ValueError saying why not. None when `suite_dir` is unknown."""
    if suite_dir is None:
        from .paths import check_relative_path

        check_relative_path(raw, None)
        return None
    path = resolve_in(raw, suite_dir)
    size = path.stat().st_size
    if size > MAX_IMAGE_BYTES:
        raise ValueError(f"{raw!r} is {size / 2**20:.1f} MB; an image in a message may be at most "
                         f"{MAX_IMAGE_BYTES // 2**20} MB")
    with open(path, "rb") as f:
        head = f.read(16)
    if image_format(head) is None:
        raise ValueError(f"{raw!r} is not a PNG, JPEG, WebP or GIF image")
    return path


def data_url(raw: str, suite_dir: str | None) -> str:
    """The URL to send for an image part's `url`: remote and data: URLs as written, a local file
    as a data: URL. ValueError when the file may not or cannot be sent."""
    if not is_local(raw):
        return raw
    path = check_local_image(raw, suite_dir)
    if path is None:
        raise ValueError(f"{raw!r}: a local image needs the suite's folder to be known")
    st = os.stat(path)
    return _encoded(str(path), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=32)
def _encoded(path: str, size: int, mtime_ns: int) -> str:
    """The file as a data: URL; cached per file version, as every model and repeat sends it."""
    data = Path(path).read_bytes()[: MAX_IMAGE_BYTES + 1]
    if len(data) > MAX_IMAGE_BYTES:
        raise ValueError(f"{path} grew past {MAX_IMAGE_BYTES // 2**20} MB")
    kind = image_format(data)
    if kind is None:
        raise ValueError(f"{path} is no longer an image")
    return f"data:{_MIME[kind]};base64,{base64.b64encode(data).decode('ascii')}"
