"""``manage.py translations_compile``: the .po catalogues to .mo, without GNU gettext."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from core.translations import CatalogueError, catalogues_compile


class Command(BaseCommand):
    help = "Compile locale/*/LC_MESSAGES/*.po to .mo with Babel (pure Python; compilemessages needs msgfmt)."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            written = catalogues_compile()
        except CatalogueError as exc:
            raise CommandError(str(exc)) from None
        for path in written:
            self.stdout.write(f"compiled {path}")
