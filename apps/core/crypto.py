"""Encryption of stored secrets (API key secrets) with Fernet keys from settings."""

from functools import lru_cache

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def encrypt(plaintext: str) -> bytes:
    return _fernet(tuple(settings.API_KEY_ENCRYPTION_KEYS)).encrypt(plaintext.encode())


def decrypt(token: bytes) -> str:
    return _fernet(tuple(settings.API_KEY_ENCRYPTION_KEYS)).decrypt(bytes(token)).decode()
