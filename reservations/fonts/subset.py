"""Make ``TicketingSansKR-Regular.ttf`` from Pretendard (SIL OFL 1.1), once.

The PDF tickets need a font that draws Hangul; the product must not depend
on a system font. Pretendard's TrueType build (npm package ``pretendard``,
``dist/public/static/alternative/Pretendard-Regular.ttf``) is 2.7 MB; this
keeps what a ticket needs (ASCII, Latin-1, punctuation, the 2,350 Hangul
syllables of KS X 1001 that everyday Korean is written in, the compatibility
jamo, CJK punctuation, and every character of the Korean catalogues), drops
the hinting, and renames the font: the OFL reserves the name "Pretendard"
for the original. Run from the repository root:

    npm pack pretendard@1.3.9 && tar xzf pretendard-1.3.9.tgz
    python reservations/fonts/subset.py package/dist/public/static/alternative/Pretendard-Regular.ttf
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "TicketingSansKR-Regular.ttf"
FAMILY = "Ticketing Sans KR"
POSTSCRIPT = "TicketingSansKR-Regular"


def ks_x_1001_hangul() -> list[int]:
    """The 2,350 precomposed syllables of KS X 1001 (EUC-KR rows 0xB0-0xC8)."""
    codes = []
    for lead in range(0xB0, 0xC9):
        for trail in range(0xA1, 0xFF):
            try:
                codes.append(ord(bytes([lead, trail]).decode("euc-kr")))
            except UnicodeDecodeError:
                continue
    return codes


def catalogue_characters() -> set[int]:
    """Every character of the Korean translations (labels printed on tickets among them)."""
    text = "".join(path.read_text(encoding="utf-8") for path in (HERE.parent.parent / "locale").glob("ko/*/*.po"))
    return {ord(char) for char in text if ord(char) >= 0x20}


def wanted() -> list[int]:
    ranges = [
        range(0x20, 0x7F),  # ASCII
        range(0xA0, 0x100),  # Latin-1
        range(0x2010, 0x2040),  # dashes, quotes, bullets, ellipsis
        range(0x2190, 0x2194),  # arrows
        range(0x3000, 0x3019),  # CJK punctuation and brackets
        range(0x3131, 0x318F),  # compatibility jamo
    ]
    codes = {code for block in ranges for code in block}
    codes |= {0x20A9, 0x20AC, 0x2122, 0xFF5E, 0x223C, 0x25A0, 0x25CF}  # won, euro, trade mark, wave dashes, square, dot
    codes |= set(ks_x_1001_hangul()) | catalogue_characters()
    return sorted(codes)


def rename(font: TTFont) -> None:
    """The OFL keeps the Reserved Font Name for the original: this subset is renamed."""
    names = font["name"]
    for record in list(names.names):
        if record.nameID in (1, 3, 4, 6, 16, 17, 21, 22):
            names.removeNames(nameID=record.nameID)
    for name_id, value in (
        (1, FAMILY),
        (2, "Regular"),
        (3, f"{POSTSCRIPT};subset of Pretendard 1.3.9"),
        (4, f"{FAMILY} Regular"),
        (6, POSTSCRIPT),
    ):
        names.setName(value, name_id, 3, 1, 0x409)
        names.setName(value, name_id, 1, 0, 0)
    if "CFF " in font:
        font["CFF "].cff.fontNames = [POSTSCRIPT]


def main(source: str) -> None:
    options = subset.Options()
    options.hinting = False
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.layout_features = ["kern", "liga", "ccmp", "locl"]
    options.drop_tables += ["DSIG"]
    font = TTFont(source)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=wanted())
    subsetter.subset(font)
    rename(font)
    font.save(OUTPUT)
    print(f"{OUTPUT}: {OUTPUT.stat().st_size} bytes, {len(font.getBestCmap())} characters")


if __name__ == "__main__":
    main(sys.argv[1])
