"""Image thumbnails embedded in the report as data URIs, so its gallery survives the page being
moved, mailed or uploaded as a CI artifact without the run folder. Each image is downscaled with
Pillow to at most `MAX_SIDE` pixels a side (JPEG; PNG where it has transparency) and the page's
thumbnails together stay under a byte budget: past it, an image is listed without a picture."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

MAX_SIDE = 240  # pixels, the longer side
TOTAL_BYTES = 3_000_000  # base64 bytes of all thumbnails of one report
SOURCE_BYTES_CAP = 50_000_000  # a file larger than this is not opened at all


@dataclass
class Thumbnails:
    """One report's thumbnails: `make` returns a data URI, or None (unreadable, or over budget)."""

    budget: int = TOTAL_BYTES
    used: int = 0
    over_budget: int = 0

    def make(self, path: str) -> str | None:
        import os

        from PIL import Image, UnidentifiedImageError

        try:
            if os.path.getsize(path) > SOURCE_BYTES_CAP:
                return None
            with Image.open(path) as src:
                src.draft("RGB", (MAX_SIDE, MAX_SIDE))  # JPEG decodes at a fraction of its size
                alpha = src.mode in ("RGBA", "LA", "PA") or "transparency" in src.info
                im = src.convert("RGBA" if alpha else "RGB")
            im.thumbnail((MAX_SIDE, MAX_SIDE))
            buf = io.BytesIO()
            if alpha:
                im.save(buf, "PNG", optimize=True)
            else:
                im.save(buf, "JPEG", quality=70, optimize=True)
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
            return None
        uri = f"data:image/{'png' if alpha else 'jpeg'};base64," + base64.b64encode(buf.getvalue()).decode("ascii")
        if self.used + len(uri) > self.budget:
            self.over_budget += 1
            return None
        self.used += len(uri)
        return uri
