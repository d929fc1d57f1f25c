"""`kind: image`: text-to-image prompts, checked and saved.

The package holds the whole kind: `spec.py` (the suite and case models, sizes), `kind.py`
(requests, saving and checking images, scoring), `details.py` (the typed `details` of its rows),
`metrics.py`, `report.py` with `section.html.j2` (its report section) and `synthetic.py` (its rows
in the synthetic report data).
"""

from .kind import KIND, MAX_IMAGE_BYTES, ImageKind, check_image, map_n
from .spec import ImageCase, ImageSuite, size_problem

__all__ = ["KIND", "MAX_IMAGE_BYTES", "ImageCase", "ImageKind", "ImageSuite", "check_image", "map_n", "size_problem"]
