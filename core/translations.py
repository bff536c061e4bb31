"""The translation catalogues' build step, in pure Python.

Django's ``compilemessages`` runs GNU gettext's ``msgfmt``, which a machine
with nothing but Python does not have. Babel (pure Python) reads each
``locale/<lang>/LC_MESSAGES/<domain>.po`` and writes the ``.mo`` beside it;
``dev.py`` runs this before the product and the tests, the Dockerfile at
build time (``manage.py translations_compile``). Imports no Django, so
``dev.py`` can call it before any settings exist.
"""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"


class CatalogueError(Exception):
    """A .po file that does not read, or whose translations break their placeholders."""


def catalogue_read(po_path: Path) -> Catalog:
    """The catalogue of one .po file; a syntax error or a bad ``%`` placeholder raises."""
    language = po_path.parent.parent.name
    with po_path.open("rb") as handle:
        try:
            catalog = read_po(handle, locale=language, abort_invalid=True)
        except Exception as exc:  # Babel raises its own PoFileError and ValueErrors
            raise CatalogueError(f"{po_path}: {exc}") from exc
    problems = [f"{message.id!r}: {'; '.join(map(str, errors))}" for message, errors in catalog.check()]
    if problems:
        raise CatalogueError(f"{po_path}: " + " | ".join(problems))
    return catalog


def catalogue_mo_bytes(po_path: Path) -> bytes:
    """What the .mo of ``po_path`` must hold (fuzzy entries left out, as msgfmt does)."""
    buffer = io.BytesIO()
    write_mo(buffer, catalogue_read(po_path), use_fuzzy=False)
    return buffer.getvalue()


def catalogues_compile(locale_dir: Path = LOCALE_DIR) -> list[Path]:
    """Write every .po's .mo where it is missing or differs; returns those written."""
    written = []
    for po_path in sorted(locale_dir.glob("*/LC_MESSAGES/*.po")):
        mo_path = po_path.with_suffix(".mo")
        compiled = catalogue_mo_bytes(po_path)
        if not mo_path.exists() or mo_path.read_bytes() != compiled:
            mo_path.write_bytes(compiled)
            written.append(mo_path)
    return written
