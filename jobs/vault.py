"""Encryption at rest for the secrets in job settings (the values of secret headers).

Values are sealed with Fernet (AES-128-CBC with an HMAC-SHA256, from the `cryptography`
package) under the keys in CRONADMIN_ENCRYPTION_KEYS: the first key encrypts, every key
decrypts, so a key is rotated by putting a new one first and re-encrypting
(`manage.py reencryptsecrets`) before the old one is dropped. Without that setting one key is
derived from SECRET_KEY, and a deploy check warns.

A sealed value is text, `cronadmin:enc:<Fernet token>`, so the settings stay plain JSON that
validates like any other header value, and a sealed value is recognised wherever it travels
(Job.config, JobVersion definitions). Nothing here decides what is secret: see
jobs.kinds.http for the headers, jobs.audit for the masking.
"""

import base64
import functools
import logging
import threading
from collections import Counter
from collections.abc import Iterable

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

# Shown instead of a secret everywhere (pages, API, audit, output, logs). Defined here, not in
# jobs.audit, because the log filter below is loaded with the settings, before any model.
SECRET_MASK = "••••••"
PREFIX = "cronadmin:enc:"
# Shorter values are not searched for in output: masking every "1" or "ok" would garble it and
# hide nothing worth hiding.
MIN_REDACTED_LENGTH = 4


class VaultError(Exception):
    """A sealed value that none of the configured keys opens."""


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


def uses_derived_key() -> bool:
    return not settings.CRONADMIN_ENCRYPTION_KEYS


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def seal(text: str) -> str:
    return PREFIX + _fernet().encrypt(text.encode("utf-8")).decode("ascii")


def unseal(value: str) -> str:
    if not is_sealed(value):
        raise VaultError("This is not an encrypted value.")
    try:
        return _fernet().decrypt(value[len(PREFIX) :].encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError):
        raise VaultError(
            "An encrypted secret cannot be decrypted with the keys in CRONADMIN_ENCRYPTION_KEYS "
            "(or the key derived from SECRET_KEY when that is empty): the key it was encrypted "
            "with is missing."
        ) from None


def reseal(value: str, *, from_secret_key: bool = False) -> str:
    """The same secret encrypted with the first key (for rotation); `value` unchanged if it is.

    `from_secret_key` also opens values encrypted with the key derived from SECRET_KEY, used
    before CRONADMIN_ENCRYPTION_KEYS was set.
    """
    if not is_sealed(value):
        raise VaultError("This is not an encrypted value.")
    every_key, first_key = _keys(from_secret_key)
    token = value[len(PREFIX) :].encode("ascii")
    try:
        first_key.extract_timestamp(token)
        return value
    except InvalidToken:
        pass
    try:
        return PREFIX + every_key.rotate(token).decode("ascii")
    except InvalidToken:
        raise VaultError(
            "An encrypted secret cannot be decrypted with any key in CRONADMIN_ENCRYPTION_KEYS."
        ) from None


def _fernet() -> MultiFernet:
    return _keys()[0]


def _keys(with_derived: bool = False) -> tuple[MultiFernet, Fernet]:
    """Every key (to decrypt) and the first one (to tell what needs re-encrypting)."""
    keys = tuple(settings.CRONADMIN_ENCRYPTION_KEYS)
    return _keys_for(keys, settings.SECRET_KEY, with_derived)


@functools.lru_cache(maxsize=8)
def _keys_for(
    keys: tuple[str, ...], secret_key: str, with_derived: bool
) -> tuple[MultiFernet, Fernet]:
    fernets = [Fernet(key) for key in keys]
    if with_derived or not fernets:
        fernets.append(Fernet(derived_key(secret_key)))
    return MultiFernet(fernets), fernets[0]


def derived_key(secret_key: str) -> bytes:
    # HKDF with a purpose label: the Fernet key is unrelated to the signing uses of SECRET_KEY.
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"cronadmin-vault", info=b"job secrets v1"
    )
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode("utf-8")))


# --- keeping secrets out of output and logs ---


def redaction_targets(values: Iterable[str]) -> list[str]:
    """The strings to hide for these secret values: each whole value, and the credential of an
    `Authorization: Bearer <credential>`-style value, which a server is likelier to echo alone."""
    targets: set[str] = set()
    for value in values:
        targets.add(value)
        scheme, space, credential = value.partition(" ")
        if space and scheme.isalpha():
            targets.add(credential.strip())
    # Longest first, so a value containing another is replaced whole.
    return sorted((t for t in targets if len(t) >= MIN_REDACTED_LENGTH), key=len, reverse=True)


def redact(text: str, targets: Iterable[str]) -> str:
    for target in targets:
        if target in text:
            text = text.replace(target, SECRET_MASK)
    return text


class _Watched:
    """The secrets of the runs in progress in this process, for the log filter."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self.targets: tuple[str, ...] = ()

    def add(self, targets: Iterable[str]) -> None:
        with self._lock:
            self._counts.update(targets)
            self._refresh()

    def remove(self, targets: Iterable[str]) -> None:
        with self._lock:
            self._counts.subtract(targets)
            self._counts = +self._counts
            self._refresh()

    def _refresh(self) -> None:
        self.targets = tuple(sorted(self._counts, key=len, reverse=True))


watched = _Watched()


class RedactSecretsFilter(logging.Filter):
    """Masks the secrets of running jobs in log records (message and traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        targets = watched.targets
        if not targets:
            return True
        message = record.getMessage()
        masked = redact(message, targets)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, targets)
        return True
