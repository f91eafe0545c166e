"""Secrets at rest (OAuth tokens, webhook keys): Fernet encryption with key rotation."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from finpipe.config import Settings
from finpipe.errors import FinpipeError


class SecretError(FinpipeError):
    """A stored secret cannot be decrypted with the configured keys."""


class SecretBox:
    """Encrypts with the newest key; decrypts with any configured key."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise SecretError("no secret key configured: set FINPIPE_SECRET_KEY")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        return cls(settings.secret_keys())

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str, *, what: str = "a stored secret") -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise SecretError(
                f"{what} was encrypted with a key that is not in FINPIPE_SECRET_KEY; add the "
                "old key after the new one (comma-separated) until `finpipe secrets rotate` ran"
            ) from None

    def rotate(self, token: str, *, what: str = "a stored secret") -> str:
        """The same secret re-encrypted under the newest key."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise SecretError(
                f"{what} was encrypted with a key that is not in FINPIPE_SECRET_KEY; keep the "
                "old key after the new one (comma-separated) while rotating"
            ) from None
