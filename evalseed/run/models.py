"""`evalseed models`: the model table (windows, limits, prices, features), the model sets and the
providers, as a table or JSON."""

from __future__ import annotations

from ..config import Config, ModelInfo, load_config
from ..console import console


def models_data(cfg: Config) -> dict:
    """The model table as data: each model as each provider sees it (windows, limits, prices),
    variants with their base and params, sets and providers."""
    from dataclasses import asdict

    from ..config import PRICES_AS_OF, PRICES_SOURCE

    def model(m: ModelInfo) -> dict:
        d = asdict(m)
        d.pop("token_ratio", None)  # a run's measurement, not part of the table
        d["prices"] = {k: v for k, v in d["prices"].items() if v is not None} if d.get("prices") else {}
        return d

    return {
        "prices_as_of": PRICES_AS_OF, "prices_source": PRICES_SOURCE,
        "models": [model(m) for m in cfg.models.values()],
        "per_provider": {p.name: {m.name: {"context_window": e.context_window, "max_input_tokens": e.max_input_tokens,
                                          "max_completion_tokens": e.max_completion_tokens,
                                          "prices": {k: getattr(e.prices, k) for k in e.prices.__slots__
                                                     if getattr(e.prices, k) is not None}}
                                  for m in cfg.models.values() if (m.provider in (None, p.name))
                                  for e in [cfg.effective_model(m, p)]}
                         for p in cfg.providers.values()},
        "model_sets": cfg.model_sets,
        "providers": [{"name": p.name, "base_url": p.base_url, "api_key_env": p.api_key_env} for p in cfg.providers.values()],
    }


def models_command(config: str | None, as_json: bool = False) -> int:
    from ..config import PRICES_SOURCE
    from ..tables import Col, print_fitted

    cfg = load_config(config)
    if as_json:
        import json

        print(json.dumps(models_data(cfg), indent=2, default=str))
        return 0
    cols = [Col("model", key=True), Col("kind"), Col("context", "right"), Col("in $/M", "right"),
            Col("cached $/M", "right"), Col("out $/M", "right"), Col(">128K in/out", "right"), Col("$/image", "right"),
            Col("features", wrap=True)]
    rows = []
    f = lambda v: "-" if v is None else f"{v:g}"  # noqa: E731
    for m in cfg.models.values():
        p = m.prices
        feats = ", ".join(n for n in ("structured_output", "tools", "thinking") if getattr(m, n)) or "-"
        prov = f" [{m.provider}]" if m.provider else ""
        if m.base_model:
            feats += f"; variant of {m.base_model} {m.request_params}"
        rows.append([m.name + prov, m.kind, f"{m.context_window:,}" if m.context_window else "-", f(p.input),
                      f(p.cached_input), f(p.output),
                      f"{f(p.long_input)}/{f(p.long_output)}" if p.long_input is not None else "-",
                      f(p.per_image), feats])
    out = console()
    print_fitted(out, cols, rows, title=f"Models (prices USD: {PRICES_SOURCE})")
    for name, members in cfg.model_sets.items():
        out.print(f"set [bold]{name}[/bold]: {', '.join(members)}")
    out.print("providers: " + ", ".join(
        f"{p.name} ({p.base_url or 'started by evalseed'}; key ${p.api_key_env or '-'})" for p in cfg.providers.values()))
    for provider in cfg.providers.values():
        for name, lim in provider.limits.items():
            out.print(f"limits on {provider.name}: {name} " + ", ".join(f"{k} {v:,}" for k, v in lim.items()))
    return 0
