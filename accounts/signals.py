"""Keep tokens honest: deactivation and a new password revoke every token of
the user, and the token cache forgets the user once the change has committed
(``accounts.tokens`` fences out reads that started before)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from knox.models import AuthToken

from accounts.tokens import token_cache_forget_user


def _forget_on_commit(user_id: int) -> None:
    transaction.on_commit(lambda: token_cache_forget_user(user_id), robust=True)


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def user_saved(sender: type, instance: Any, created: bool, **kwargs: Any) -> None:
    if created:
        return
    password_changed = getattr(instance, "_password", None) is not None  # set_password() before this save
    if not instance.is_active or password_changed:
        AuthToken.objects.filter(user_id=instance.pk).delete()
    _forget_on_commit(instance.pk)


@receiver(post_delete, sender=AuthToken)
def token_deleted(sender: type, instance: AuthToken, **kwargs: Any) -> None:
    _forget_on_commit(instance.user_id)
