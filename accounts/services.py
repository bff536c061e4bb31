"""Account operations: registration and API tokens."""

from __future__ import annotations

from hmac import compare_digest
from typing import Any

from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy
from knox.crypto import hash_token
from knox.models import AuthToken, get_digest_token
from knox.settings import CONSTANTS, knox_settings

from accounts.tokens import token_cache_forget
from core.errors import ApplicationError, Conflict, Invalid
from core.ratelimit import rate_limit_check

User = get_user_model()


def username_normalize(username: str) -> str:
    """The name as stored: NFKC, as ``create_user`` and the login form apply
    it. Full-width letters become their ASCII twins, so a name typed in them
    meets its ASCII twin in the uniqueness check instead of sitting beside it."""
    return User.normalize_username(username)


def _lengths_check(**values: str) -> None:
    """Values longer than their column are field errors, not a database error
    (NFKC can lengthen a name: one ligature may become 18 letters)."""
    fields = {}
    for name, value in values.items():
        limit = User._meta.get_field(name).max_length
        if len(value) > limit:
            fields[name] = [
                format_lazy(gettext_lazy("Ensure this field has no more than {limit} characters."), limit=limit)
            ]
    if fields:
        raise Invalid(gettext_lazy("The request is not valid."), fields=fields)


#: What each kind of account attempt is counted against, per client address.
ATTEMPT_LIMITS = {"register": "RATE_LIMIT_REGISTER", "login": "RATE_LIMIT_LOGIN"}


def account_attempt_check(*, kind: str, address: str) -> None:
    """Count one registration or login attempt from ``address``
    (``core.client_address``), whatever its outcome; 429 past the limit.
    Counting every attempt, not only the failed ones, is what stops both a
    password guesser and one person opening accounts by the hundred."""
    rate_limit_check(scope=f"account_{kind}", subject=address, setting=ATTEMPT_LIMITS[kind])


def user_register(*, username: str, password: str, email: str = "") -> tuple[User, str]:
    """Create a user and its API token; 409 ``username_taken`` if the name is
    used, compared as stored (normalised) and without regard to case."""
    username = username_normalize(username)
    _lengths_check(username=username, email=email)
    candidate = User(username=username, email=email)
    try:
        validate_password(password, user=candidate)
    except ValidationError as exc:
        raise Invalid(
            gettext_lazy("The password is not acceptable."), fields={"password": list(exc.messages)}
        ) from None
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict("username_taken", gettext_lazy("That username is already taken."))
    try:
        with transaction.atomic():
            user = User.objects.create_user(username=username, password=password, email=email)
            token = token_issue(user=user)
    except IntegrityError:
        raise Conflict("username_taken", gettext_lazy("That username is already taken.")) from None
    return user, token


def token_obtain(*, username: str, password: str) -> str:
    """A new API token for valid credentials (the name is looked up as it was
    stored, normalised). Each login gets its own token, which expires."""
    user = authenticate(username=username_normalize(username), password=password)
    if user is None:
        raise ApplicationError("invalid_credentials", gettext_lazy("Unable to log in with those credentials."))
    return token_issue(user=user)


def token_issue(*, user: Any) -> str:
    """A new token for ``user``: returned once, stored only as its digest, expiring after ``TOKEN_TTL``."""
    _, token = AuthToken.objects.create(user=user)
    return token


def tokens_issue(*, user_ids: list[int]) -> dict[int, str]:
    """One new token per user in one insert (bulk loads and benchmarks)."""
    expiry = timezone.now() + knox_settings.TOKEN_TTL
    rows, tokens = [], {}
    for user_id in user_ids:
        digest, token = get_digest_token()
        rows.append(
            AuthToken(digest=digest, token_key=token[: CONSTANTS.TOKEN_KEY_LENGTH], user_id=user_id, expiry=expiry)
        )
        tokens[user_id] = token
    AuthToken.objects.bulk_create(rows, batch_size=5000)
    return tokens


def token_revoke(*, token: str) -> bool:
    """Log out one token (``POST /api/auth/logout/``); True if it existed."""
    matches = AuthToken.objects.filter(token_key=token[: CONSTANTS.TOKEN_KEY_LENGTH])
    for auth_token in matches:
        if compare_digest(auth_token.digest, hash_token(token)):
            auth_token.delete()
            token_cache_forget([token])
            return True
    return False
