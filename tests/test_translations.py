"""The Korean catalogues: complete, their placeholders intact, compiled
(by the pure-Python build step) and current with the source, and every
character of them printable in the PDF tickets' font."""

from __future__ import annotations

import gettext
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont

from core.translations import LOCALE_DIR, CatalogueError, catalogue_mo_bytes, catalogue_read, catalogues_compile
from reservations.ticket_pdf import FONT

ROOT = LOCALE_DIR.parent
CATALOGUES = sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po"))
PLACEHOLDER = re.compile(r"%\([a-z_]+\)s|%s|%d|\{[a-z_]*(?:![rs])?\}")
MAKEMESSAGES = ["makemessages", "-l", "ko", "--no-location", "--no-wrap", "--no-obsolete"]
MAKEMESSAGES += ["--ignore=staticfiles", "--ignore=tests", "--ignore=bench", "--ignore=locale"]


def _strings(message) -> list[str]:
    return [message.string] if isinstance(message.string, str) else list(message.string)


def _ids(message) -> list[str]:
    return [message.id] if isinstance(message.id, str) else list(message.id)


def test_there_are_korean_catalogues_for_python_templates_and_javascript():
    assert [path.relative_to(LOCALE_DIR).as_posix() for path in CATALOGUES] == [
        "ko/LC_MESSAGES/django.po",
        "ko/LC_MESSAGES/djangojs.po",
    ]


@pytest.mark.parametrize("po_path", CATALOGUES, ids=lambda path: path.name)
def test_every_msgid_has_a_korean_translation_with_its_placeholders(po_path):
    catalog = catalogue_read(po_path)
    messages = [message for message in catalog if message.id]
    assert len(messages) > 50
    for message in messages:
        assert "fuzzy" not in message.flags, message.id
        strings = _strings(message)
        assert strings and all(s.strip() for s in strings), f"untranslated: {message.id!r}"
        wanted = sorted(PLACEHOLDER.findall(_ids(message)[-1]))
        for string in strings:
            assert sorted(PLACEHOLDER.findall(string)) == wanted, (message.id, string)
            assert re.search(r"[\uac00-\ud7a3]", string) or not re.search(r"[a-z]{3}", _ids(message)[0]), string


@pytest.mark.parametrize("po_path", CATALOGUES, ids=lambda path: path.name)
def test_the_compiled_catalogue_is_current(po_path):
    """The .mo the build step wrote says exactly what the .po says (run
    ``manage.py translations_compile``, or any ``dev.py`` command, after
    editing a .po)."""
    mo_path = po_path.with_suffix(".mo")
    assert mo_path.exists(), f"{mo_path} is missing: run python3 dev.py manage translations_compile"
    assert mo_path.read_bytes() == catalogue_mo_bytes(po_path), f"{mo_path} is stale"
    with mo_path.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for message in catalogue_read(po_path):
        if not message.id:
            continue
        if message.context:
            assert compiled.pgettext(message.context, message.id) == message.string
        elif isinstance(message.id, str):
            assert compiled.gettext(message.id) == message.string
        else:
            assert compiled.ngettext(*message.id, 5) == message.string[0]
    assert compiled.info()["plural-forms"] == "nplurals=1; plural=0;"


def test_the_build_step_needs_no_gnu_gettext_and_fails_on_a_broken_catalogue(tmp_path, monkeypatch):
    """``catalogues_compile`` runs with no msgfmt on the PATH, writes only
    what changed, and refuses a .po whose translation lost a placeholder."""
    locale = tmp_path / "locale"
    shutil.copytree(LOCALE_DIR, locale, ignore=shutil.ignore_patterns("*.mo"))
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing to run: no msgfmt, no xgettext
    assert sorted(path.name for path in catalogues_compile(locale)) == ["django.mo", "djangojs.mo"]
    assert catalogues_compile(locale) == []
    with (locale / "ko/LC_MESSAGES/django.mo").open("rb") as handle:
        assert gettext.GNUTranslations(handle).gettext("No such ticket.") == "그런 티켓이 없습니다."
    po = locale / "ko/LC_MESSAGES/django.po"
    po.write_text(po.read_text().replace('msgstr "%(event)s 티켓"', 'msgstr "%(concert)s 티켓"'))
    with pytest.raises(CatalogueError, match="Ticket for"):
        catalogues_compile(locale)
    po.write_text('msgid "unterminated\n')
    with pytest.raises(CatalogueError):
        catalogues_compile(locale)


def test_the_po_files_hold_every_string_the_source_marks(tmp_path):
    """``makemessages`` over a copy of the repository finds no msgid the
    committed .po files lack (and none they have in excess): a string marked
    for translation without its Korean fails here. Needs GNU gettext's
    xgettext, as makemessages does; CI installs it (.ci/run)."""
    if shutil.which("xgettext") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("xgettext is missing: apt-get install -y gettext")
        pytest.skip("GNU gettext's xgettext is not installed (apt-get install -y gettext)")
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    copy = tmp_path / "repo"
    for name in files:
        source = ROOT / name
        if source.is_file() and not name.startswith(("locale/", "tests/", "bench/", "docs/")):
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    (copy / "locale" / "ko" / "LC_MESSAGES").mkdir(parents=True)
    for domain in ("django", "djangojs"):
        subprocess.run(
            [sys.executable, "manage.py", *MAKEMESSAGES, "-d", domain],
            cwd=copy,
            check=True,
            capture_output=True,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "ticketing.settings_test"},
        )
        fresh, committed = _keys(_read(copy, domain)), _keys(_read(ROOT, domain))
        assert fresh == committed, (domain, fresh ^ committed)


def _keys(catalog) -> set:
    """Each entry as (context, msgid or (singular, plural)); the header left out."""
    return {
        (message.context, message.id if isinstance(message.id, str) else tuple(message.id))
        for message in catalog
        if message.id
    }


def _read(root: Path, domain: str):
    from babel.messages.pofile import read_po

    with (root / "locale" / "ko" / "LC_MESSAGES" / f"{domain}.po").open("rb") as handle:
        return read_po(handle, locale="ko")


def test_the_pdf_font_draws_every_korean_translation():
    cmap = TTFont(FONT).getBestCmap()
    text = "".join(string for path in CATALOGUES for message in catalogue_read(path) for string in _strings(message))
    missing = sorted({char for char in text if not char.isspace() and ord(char) not in cmap})
    assert missing == []
