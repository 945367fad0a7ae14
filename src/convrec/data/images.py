"""Safe image reading for user files: clear errors, a pixel cap against decompression bombs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = ["DEFAULT_MAX_PIXELS", "ImageReadError", "read_grayscale"]

DEFAULT_MAX_PIXELS = 25_000_000


class ImageReadError(ValueError):
    """A file that cannot be used as an image; the message names the file and the reason."""


def read_grayscale(
    source: str | Path | bytes, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None
) -> NDArray[np.uint8]:
    """Read an image file (or bytes) as 8-bit grayscale ``(H, W)``.

    Colour images are converted with ITU-R 601-2 luma (Pillow's ``"L"``); transparency is
    flattened onto white (drawings saved with a transparent background stay visible).

    Raises:
        ImageReadError: not an image, truncated, empty, or more than ``max_pixels`` pixels.
        FileNotFoundError: the path does not exist.
    """
    import io

    from PIL import Image, UnidentifiedImageError

    label = name or (str(source) if not isinstance(source, bytes) else "uploaded image")
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"image file not found: {path}")
        data = path.read_bytes()
    else:
        data = source
    if not data:
        raise ImageReadError(f"{label}: the file is empty")
    try:
        with Image.open(io.BytesIO(data)) as img:
            w, h = img.size
            if w * h > max_pixels:
                raise ImageReadError(
                    f"{label}: {w}×{h} = {w * h:,} pixels is over the limit of "
                    f"{max_pixels:,} pixels"
                )
            if w == 0 or h == 0:
                raise ImageReadError(f"{label}: the image has no pixels ({w}×{h})")
            img.load()
            if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
                rgba = img.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                gray = Image.alpha_composite(white, rgba).convert("L")
            else:
                gray = img.convert("L")
            return np.asarray(gray, dtype=np.uint8).copy()
    except ImageReadError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageReadError(f"{label}: not an image Pillow can read") from exc
    except Image.DecompressionBombError as exc:
        raise ImageReadError(f"{label}: too many pixels ({exc})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"{label}: truncated or corrupt image ({exc})") from exc
