"""Keeping secrets out of what wta writes: the values of secret-looking environment variables
become *** in the event log, in transcripts and in results.

A Redactor is built once from the environments that matter (finding the secrets is the slow
part) and then only replaces strings. The event log uses one for os.environ, shared by the
process and rebuilt only when os.environ changes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

REDACTED = "***"
SECRET_MIN_LENGTH = 8
# AUTH(?!OR): GIT_AUTHOR_NAME is no secret, GITHUB_AUTH_TOKEN is.
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH(?!OR)")


def secret_values(environ: Mapping[str, str]) -> set[str]:
    """The values of the secret-looking variables of `environ` that are long enough."""
    return {
        value
        for name, value in environ.items()
        if len(value) >= SECRET_MIN_LENGTH and _SECRET_NAME.search(name.upper())
    }


class Redactor:
    """Replaces the secrets of one or more environments with ***."""

    def __init__(self, *environs: Mapping[str, str]) -> None:
        found: set[str] = set().union(*(secret_values(env) for env in environs))
        # A multi-line secret is also caught line by line, as logs are written by lines.
        found |= {
            part for value in found for part in value.splitlines() if len(part) >= SECRET_MIN_LENGTH
        }
        # Longest first, so that a secret inside another cannot leave the rest of it behind.
        self.secrets = tuple(sorted(found, key=lambda s: (-len(s), s)))

    @property
    def overlap(self) -> int:
        """How many characters a writer that cuts redacted text into pieces must hold back,
        so that no secret is split between two pieces: the longest secret's length minus 1."""
        return len(self.secrets[0]) - 1 if self.secrets else 0

    def redact(self, text: str) -> str:
        """`text` with every secret replaced with ***."""
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text


# (fingerprint of os.environ, its Redactor). Threads that race to rebuild it build it twice;
# each result is right, and the assignment is atomic.
_cached: tuple[object, Redactor] | None = None


def _environ_fingerprint() -> object:
    # os.environ keeps its items encoded in `_data` (CPython): a tuple of them is a few
    # microseconds, where decoding every item again (os.environ.items()) costs about 100.
    raw = getattr(os.environ, "_data", None)
    return tuple(raw.items()) if isinstance(raw, dict) else tuple(os.environ.items())


def environ_redactor() -> Redactor:
    """The Redactor for os.environ as it is now: built again only after os.environ changed."""
    global _cached
    fingerprint = _environ_fingerprint()
    cached = _cached
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    redactor = Redactor(os.environ)
    _cached = (fingerprint, redactor)
    return redactor


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """`text` with every secret of `environ` (os.environ by default) replaced with ***."""
    return (environ_redactor() if environ is None else Redactor(environ)).redact(text)
