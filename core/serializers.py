"""Serializer fields the API's inputs share."""

from __future__ import annotations

from rest_framework import serializers


class Text(serializers.CharField):
    """A JSON string, and only a string: DRF's ``CharField`` would take ``12``
    as ``"12"`` (a username ``0`` registered as ``"0"``)."""

    def to_internal_value(self, data: object) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)
