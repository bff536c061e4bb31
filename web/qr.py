"""QR codes as SVG, drawn server-side by ``qrcode`` (no Pillow, no JS library)."""

from __future__ import annotations

import qrcode
import qrcode.image.svg


def qr_svg(*, data: str) -> bytes:
    """An SVG path image of ``data``; medium error correction survives a scuffed phone screen."""
    image = qrcode.make(
        data,
        image_factory=qrcode.image.svg.SvgPathImage,
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=10,
        border=2,
    )
    return image.to_string(encoding="unicode").encode()
