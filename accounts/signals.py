"""Keep the token cache honest: a deleted token or deactivated user stops working at once."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from rest_framework.authtoken.models import Token

from accounts.tokens import token_cache_forget


@receiver(post_delete, sender=Token)
def token_deleted(sender: type, instance: Token, **kwargs: Any) -> None:
    token_cache_forget([instance.key])


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def user_saved(sender: type, instance: Any, **kwargs: Any) -> None:
    token_cache_forget(Token.objects.filter(user_id=instance.pk).values_list("key", flat=True))
