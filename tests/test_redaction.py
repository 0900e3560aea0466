"""Redaction of secrets: which variables count as secrets, the order of replacement,
multi-line secrets, the overlap a chunked writer holds back, and the cached redactor for
os.environ."""

from __future__ import annotations

import os

import pytest

from worktree_agents.redaction import Redactor, environ_redactor, redact

KEY = "sk-ant-0123456789"
PEM = "-----BEGIN KEY-----\nAAAABBBBCCCC\nshort\n-----END KEY-----"


def test_which_variables_are_secrets() -> None:
    env = {
        "ANTHROPIC_API_KEY": KEY,
        "GITHUB_AUTH_TOKEN": "ghp_abcdefgh",
        "DB_PASSWD": "hunter22",
        "MY_CREDENTIALS": "user:pass1",
        "lower_secret": "lowercase-name",
        "SOME_TOKEN": "short",  # under 8 characters
        "GIT_AUTHOR_NAME": "Wta Test Author",  # AUTHOR is not AUTH
        "PATH": "/usr/bin:/bin",
    }
    assert Redactor(env).secrets == (
        KEY,
        "lowercase-name",
        "ghp_abcdefgh",
        "user:pass1",
        "hunter22",
    )


def test_longest_first_over_several_environments_with_multi_line_secrets() -> None:
    # The second environment's value contains the first's: the longer goes first, whole.
    redactor = Redactor({"A_TOKEN": "abcdefgh"}, {"B_TOKEN": "xxabcdefghxx", "PEM_KEY": PEM})
    assert redactor.secrets == (
        PEM,
        "-----BEGIN KEY-----",
        "-----END KEY-----",
        "AAAABBBBCCCC",
        "xxabcdefghxx",
        "abcdefgh",
    )
    assert redactor.redact(f"{PEM} xxabcdefghxx abcdefgh") == "*** *** ***"
    # A log written line by line still loses every line of the secret that is long enough.
    assert [redactor.redact(line) for line in PEM.splitlines()] == ["***", "***", "short", "***"]
    assert redactor.overlap == len(PEM) - 1


def test_no_secrets() -> None:
    redactor = Redactor({"PATH": "/usr/bin"}, {})
    assert (redactor.secrets, redactor.overlap, redactor.redact("/usr/bin")) == ((), 0, "/usr/bin")


def test_environ_redactor_follows_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WTA_TEST_TOKEN", raising=False)
    first = environ_redactor()
    assert environ_redactor() is first  # unchanged environment: not built again
    monkeypatch.setenv("WTA_TEST_TOKEN", KEY)
    added = environ_redactor()
    assert (added is first, redact(f"a {KEY}"), added.redact(KEY)) == (False, "a ***", "***")
    monkeypatch.setenv("WTA_TEST_TOKEN", "another-value")
    assert (redact(f"{KEY} another-value"), environ_redactor() is added) == (f"{KEY} ***", False)
    monkeypatch.delenv("WTA_TEST_TOKEN")
    assert environ_redactor().secrets == first.secrets


def test_redact_with_a_given_environment_ignores_os_environ(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WTA_TEST_TOKEN", KEY)
    assert redact(f"{KEY} hunter22", {"DB_PASSWORD": "hunter22"}) == f"{KEY} ***"
    assert os.environ["WTA_TEST_TOKEN"] == KEY
