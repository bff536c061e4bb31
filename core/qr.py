"""Ticket QR codes, drawn server-side by ``qrcode`` (no Pillow, no JS
library): as SVG for the pages, as a module matrix for the PDF tickets.
Both come from one code, so a scanner reads the same thing from either."""

from __future__ import annotations

import qrcode
import qrcode.image.svg

#: Quiet zone, in modules, around the code.
BORDER = 2


def _code(data: str) -> qrcode.QRCode:
    """Medium error correction survives a scuffed phone screen or a creased printout."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=10, border=BORDER)
    code.add_data(data)
    code.make(fit=True)
    return code


def qr_svg(*, data: str) -> bytes:
    """An SVG path image of ``data``."""
    image = _code(data).make_image(image_factory=qrcode.image.svg.SvgPathImage)
    return image.to_string(encoding="unicode").encode()


def qr_matrix(*, data: str) -> list[list[bool]]:
    """The dark (True) and light modules of ``data``'s code, quiet zone included."""
    return _code(data).get_matrix()
