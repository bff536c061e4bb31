"""Account operations: registration and API tokens."""

from __future__ import annotations

from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from rest_framework.authtoken.models import Token

from core.errors import ApplicationError, Conflict, Invalid

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
            fields[name] = [f"Ensure this field has no more than {limit} characters."]
    if fields:
        raise Invalid("The request is not valid.", fields=fields)


def user_register(*, username: str, password: str, email: str = "") -> tuple[User, str]:
    """Create a user and its API token; 409 ``username_taken`` if the name is
    used, compared as stored (normalised) and without regard to case."""
    username = username_normalize(username)
    _lengths_check(username=username, email=email)
    candidate = User(username=username, email=email)
    try:
        validate_password(password, user=candidate)
    except ValidationError as exc:
        raise Invalid("The password is not acceptable.", fields={"password": list(exc.messages)}) from None
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict("username_taken", "That username is already taken.")
    try:
        with transaction.atomic():
            user = User.objects.create_user(username=username, password=password, email=email)
            token = Token.objects.create(user=user)
    except IntegrityError:
        raise Conflict("username_taken", "That username is already taken.") from None
    return user, token.key


def token_obtain(*, username: str, password: str) -> str:
    """Return the user's API token (created on first use) for valid credentials;
    the name is looked up as it was stored, normalised."""
    user = authenticate(username=username_normalize(username), password=password)
    if user is None:
        raise ApplicationError("invalid_credentials", "Unable to log in with those credentials.")
    token, _ = Token.objects.get_or_create(user=user)
    return token.key
