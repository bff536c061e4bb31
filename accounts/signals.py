"""Keep the token cache honest: a deleted token or deactivated user stops working at once."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from rest_framework.authtoken.models import Token

from accounts.authentication import token_cache_key


@receiver(post_delete, sender=Token)
def token_deleted(sender: type, instance: Token, **kwargs: Any) -> None:
    cache.delete(token_cache_key(instance.key))


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def user_saved(sender: type, instance: Any, **kwargs: Any) -> None:
    keys = list(Token.objects.filter(user_id=instance.pk).values_list("key", flat=True))
    if keys:
        cache.delete_many([token_cache_key(k) for k in keys])
