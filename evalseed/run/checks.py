"""What `evalseed run` refuses before anything is sent: a missing or malformed key, a base URL
that would store a credential, a network that is no network, a budget it could not enforce."""

from __future__ import annotations

import os

from ..config import Provider
from ..errors import UsageError
from .plan import Plan, RunOptions

LOOPBACK_PREFIXES = ("http://127.", "http://localhost", "http://[::1]", "https://127.", "https://localhost")


def api_key(provider: Provider, required: bool) -> str:
    env = provider.api_key_env
    key = os.environ.get(env) if env else None
    if key:
        if not key.isascii() or not key.isprintable() or any(c.isspace() for c in key):
            # Never sent: the HTTP layer's error about such a header would quote the key itself.
            raise UsageError(f"the key in {env} holds whitespace, a line break or another character no key has "
                             "(often a copied newline); set the variable to the key alone.")
        return key
    if required:
        raise UsageError(
            f"no API key for provider {provider.name}: set the environment variable {env or 'OPENAI_API_KEY'} "
            "(or pass --api-key-env NAME)."
        )
    # Local servers take any key; the SDK insists on one.
    return "no-key"


def needs_key(provider: Provider, cassettes: str) -> bool:
    if cassettes == "replay" or provider.name == "local":
        return False
    return not (provider.base_url or "").startswith(LOOPBACK_PREFIXES)


def check_base_url(url: str) -> None:
    """--base-url is stored with the run, so it must not carry credentials; and it must be HTTP."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"--base-url {url!r} is not an http(s) URL, e.g. http://127.0.0.1:8000/v1.")
    if parts.username or parts.password:
        raise UsageError("--base-url must not carry credentials (they would be stored with the run); "
                         "put the key in an environment variable and name it with --api-key-env.")
    if parts.query or parts.fragment:
        # The openai client appends its paths after the whole URL (a query would end up inside the
        # path), and a value there, often a key, would be stored with the run.
        raise UsageError("--base-url must not carry a query string or fragment (a key there would be stored with "
                         "the run, and the client cannot use it); give the URL up to /v1 and the key with --api-key-env.")


def check_network_options(opts: RunOptions) -> None:
    import ipaddress

    for net in opts.allow_download_from:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise UsageError(f"--allow-download-from {net!r} is not an address or network such as 10.0.0.0/8.") from None


def check_budget_is_enforceable(plan: Plan) -> None:
    """--budget-usd counts spend from prices: with a model whose price is unknown it would let
    every request of that model through while looking like a limit. Refused before anything is
    sent, rather than warned about, because a budget is set so that no one has to watch the run."""
    from ..costs import priced

    unpriced = sorted(name for name, info in plan.models.items() if not priced(info))
    # Models a suite's calls are also priced as (a generation suite's judges): their spend counts too.
    judges = sorted({f"{info.name} (judge in suite {sp.suite.name})" for sp in plan.suites
                     for m in sp.models
                     for info in sp.kind.budget_models(sp.suite, m, plan.providers[m.name]) if not priced(info)})
    unpriced += judges
    if unpriced:
        raise UsageError(
            f"--budget-usd cannot be enforced: the price of {', '.join(unpriced)} is unknown; give it in evalseed.yaml "
            f"(models: {{{unpriced[0]}: {{prices: {{input: ..., output: ...}}}}}}, USD per million tokens, or "
            "per_image) or run without --budget-usd.")
