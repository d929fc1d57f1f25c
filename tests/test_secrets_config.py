"""Where the key goes and what is stored about it, decided before any request: a configuration
file found in the working folder cannot send a built-in provider's key elsewhere, a key holding
whitespace or control characters is refused without being printed, and query-string values of
--base-url are stored hidden and redacted (issue 16)."""

from __future__ import annotations

import secrets

import pytest

from helpers import SMALL_SUITE, write_suite
from evalseed.testing.stub_server import StubServer


def _evil_repo(tmp_path, monkeypatch, text: str):
    repo = tmp_path / "cloned"
    repo.mkdir()
    (repo / "evalseed.yaml").write_text(text)
    suite = write_suite(repo / "suites", "s.yaml", SMALL_SUITE)
    monkeypatch.chdir(repo)
    return repo, suite


@pytest.mark.parametrize("config", [
    # The built-in provider moved to the repository's server.
    "providers:\n  aisa: {base_url: 'http://127.0.0.1:{port}/v1'}\n",
    # A provider of its own that names the built-in key's variable, made the default.
    "provider: mine\nproviders:\n  mine: {base_url: 'http://127.0.0.1:{port}/v1', api_key_env: AISA_API_KEY}\n",
])
def test_a_config_in_the_working_folder_cannot_redirect_a_builtin_key(cli, tmp_path, monkeypatch, config):
    key = "sk-evalseed-FAKE-" + secrets.token_hex(12)
    monkeypatch.setenv("AISA_API_KEY", key)
    with StubServer(answers={"": "positive"}) as srv:
        _, suite = _evil_repo(tmp_path, monkeypatch, config.replace("{port}", str(srv.port)))
        code, _, err = cli("run", suite, "--models", "seed-1-6-flash-250715", "--db", tmp_path / "r.duckdb",
                           "--no-progress")
        assert code == 2, err
        assert "may not redirect a built-in key" in err and "--config evalseed.yaml" in err
        assert key not in err
        assert srv.count("/v1/chat/completions") == 0  # refused before any request
        # Asked for explicitly, it is allowed, and the output says where the key went.
        code, _, err = cli("run", suite, "--models", "seed-1-6-flash-250715", "--db", tmp_path / "r.duckdb",
                           "--no-progress", "--config", "evalseed.yaml")
        assert code == 0, err
        assert "configuration from evalseed.yaml (--config)" in err and "sends AISA_API_KEY to http://127.0.0.1" in err
        assert srv.count("/v1/chat/completions") > 0


def test_a_config_that_only_adds_its_own_provider_is_used_and_named(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("MINE_KEY", "sk-mine-" + secrets.token_hex(8))
    with StubServer(answers={"": "positive"}) as srv:
        _, suite = _evil_repo(tmp_path, monkeypatch,
                              f"providers:\n  mine: {{base_url: 'http://127.0.0.1:{srv.port}/v1', api_key_env: MINE_KEY}}\n")
        code, _, err = cli("run", suite, "--models", "seed-1-6-flash-250715", "--provider", "mine",
                           "--db", tmp_path / "r.duckdb", "--no-progress")
        assert code == 0, err
        assert "configuration from evalseed.yaml (found in the working folder)" in err


@pytest.mark.parametrize("bad", [" {k}", "{k}\n", "{k}\r\n", "Bearer {k}", "{k}\x07", "{k}\u00e9"])
def test_a_key_with_whitespace_or_control_characters_is_refused_unprinted(cli, tmp_path, monkeypatch, bad):
    key = "sk-evalseed-FAKE-" + secrets.token_hex(12)
    monkeypatch.setenv("MY_KEY", bad.replace("{k}", key))
    suite = write_suite(tmp_path / "suites", "s.yaml", SMALL_SUITE)
    with StubServer(answers={"": "positive"}) as srv:
        code, out, err = cli("run", suite, "--base-url", srv.base_url, "--api-key-env", "MY_KEY",
                             "--models", "m1", "--db", tmp_path / "r.duckdb", "--no-progress")
        assert code == 2, err
        assert "the key in MY_KEY holds whitespace" in err
        assert key not in err + out and key[-12:] not in err + out
        assert srv.count("/v1/chat/completions") == 0


@pytest.mark.parametrize("query", ["?api-key={s}", "#{s}", "?x=1&token={s}"])
def test_a_base_url_with_a_query_or_fragment_is_refused_before_anything_is_stored(cli, tmp_path, query):
    secret = "qs-" + secrets.token_hex(12)
    suite = write_suite(tmp_path / "suites", "s.yaml", SMALL_SUITE)
    db = tmp_path / "r.duckdb"
    with StubServer(answers={"": "positive"}) as srv:
        code, _, err = cli("run", suite, "--base-url", srv.base_url + query.format(s=secret), "--models", "m1",
                           "--db", db, "--no-progress")
        assert code == 2 and "must not carry a query string or fragment" in err, err
        assert secret not in err and not db.exists()
        assert srv.count("/v1/chat/completions") == 0
