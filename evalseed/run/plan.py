"""What a run will ask: its options, the suites and models it pairs (with each model's provider
and chars/token ratio), and the config recorded with it in `runs.config`."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from ..config import Config, ModelInfo, Provider
from ..errors import UsageError
from ..tokens import DEFAULT_RATIO, TokenRatio


@dataclass
class RunOptions:
    paths: list[str]
    models: str | None = None
    provider: str | None = None
    db: str = "evalseed.duckdb"
    concurrency: int = 8
    base_url: str | None = None
    api_key_env: str | None = None
    cassettes: str = "off"
    cassette_dir: str = "cassettes"
    budget_usd: float | None = None
    label: str | None = None
    resume: str | None = None
    dry_run: bool = False
    rpm: int | None = None
    tpm: int | None = None
    timeout: float = 300.0
    max_attempts: int = 6
    backoff_base: float = 0.5
    out_dir: str = "runs"
    config: str | None = None
    progress: bool = True
    max_answer_bytes: int = 4 * 1024 * 1024
    allow_download_from: list[str] = field(default_factory=list)
    run_id: str | None = None  # set by run_command
    # `run --baseline X --gate --sequential`: the baseline's full run id; run_command builds the
    # monitor (evalseed.compare.sequential.SequentialGate) that orders the cases and stops the feed.
    sequential_baseline: str | None = None
    sequential: Any = None
    # `run --shard I/N [--group G]` (evalseed/shards.py): the text as given, then the parsed spec
    # and the record stored in runs.config.shard, both set by run_command.
    shard: str | None = None
    group: str | None = None
    shard_spec: Any = None
    shard_record: dict | None = None
    # `run --suite/--case/--tag/--limit/--repeats/--temperature/--max-tokens` (evalseed.suites.filters.Selection).
    selection: Any = None
    json: bool = False  # `run --json`: the summary as JSON on stdout, nothing else there


@dataclass
class SuitePlan:
    suite: Any
    kind: Any
    cases: list
    models: list[ModelInfo]


@dataclass
class Plan:
    suites: list[SuitePlan]
    models: dict[str, ModelInfo]
    providers: dict[str, Provider]  # per model name
    notices: list[str] = field(default_factory=list)

    def total(self, skip: set[tuple] | frozenset[tuple] = frozenset()) -> int:
        n = 0
        for sp in self.suites:
            for m in sp.models:
                for c in sp.cases:
                    for r in range(sp.suite.repeats):
                        if (sp.suite.name, c.id, m.name, r) not in skip:
                            n += 1
        return n

    def with_token_ratios(self, ratios: Mapping[str, TokenRatio]) -> None:
        """Give each model its chars/token ratio (the default where `ratios` has none), so the
        kinds size prompts with it and the run records it."""
        self.models = {name: replace(info, token_ratio=ratios.get(name, DEFAULT_RATIO))
                       for name, info in self.models.items()}
        for sp in self.suites:
            sp.models = [self.models[m.name] for m in sp.models]


def undocumented_note(suite) -> str:
    return (f"suite {suite.name}: params {', '.join(suite.undocumented_params)} are not among the parameters the "
            "Seed API documents; sent as written.")


def make_plan(cfg: Config, suites: list, models_spec: str | None, provider_name: str | None,
              base_url: str | None, api_key_env: str | None) -> Plan:
    from ..kinds import get_kind

    explicit = cfg.expand_models(models_spec) if models_spec else None
    infos: dict[str, ModelInfo] = {}
    plans: list[SuitePlan] = []
    notices: list[str] = []
    for suite in suites:
        kind = get_kind(suite.kind)
        if suite.undocumented_params:
            notices.append(undocumented_note(suite))
        names = explicit or suite.models or cfg.model_sets["default"]
        chosen: list[ModelInfo] = []
        for name in names:
            info = infos.get(name) or cfg.resolve_model(name, allow_unknown=bool(base_url))
            infos[name] = info
            if info.kind in kind.model_kinds:
                chosen.append(info)
        if not chosen:
            notices.append(
                f"suite {suite.name} ({suite.kind}) has no {'/'.join(kind.model_kinds)} model among "
                f"{', '.join(names)}: not run."
            )
            continue
        plans.append(SuitePlan(suite, kind, list(kind.cases(suite)), chosen))
    if not plans:
        raise UsageError("nothing to run: no suite has a model of its kind; check --models.")
    used = {m.name: m for sp in plans for m in sp.models}
    providers: dict[str, Provider] = {}
    for name, info in used.items():
        if base_url:
            # A base URL moves the host, not the provider: `--provider ark --base-url` keeps ark's
            # windows, limits and image mapping. The key is still the one named for this URL.
            known = cfg.providers.get(provider_name) if provider_name else None
            key_env = api_key_env or "OPENAI_API_KEY"
            prov = (replace(known, base_url=base_url, api_key_env=key_env) if known
                    else Provider(provider_name or "custom", base_url, key_env))
        else:
            prov = cfg.provider(info.provider or provider_name or cfg.default_provider)
            if api_key_env:
                prov = Provider(prov.name, prov.base_url, api_key_env, prov.images_take_n,
                                prov.context_windows, prov.price_overrides)
        providers[name] = prov
        used[name] = cfg.effective_model(info, prov)
    for sp in plans:
        sp.models = [used[m.name] for m in sp.models]
    notices.extend(cfg.notices)
    return Plan(plans, used, providers, notices)


def learned_token_ratios(db: str, plan: Plan) -> dict[str, TokenRatio]:
    """Chars-per-token ratios per model from earlier runs' prompt_tokens (evalseed.tokens), so
    long-context lengths and context-window skips use measured figures, not the default. None
    (every model at the default) when no suite sizes prompts that way or there is no database."""
    if not any(sp.kind.learns_token_ratios for sp in plan.suites) or not Path(db).exists():
        return {}
    from .. import store, tokens

    try:
        con = store.open_db(db, read_only=True, wait_s=1.0)
    except UsageError:
        return {}  # locked or not ours: the defaults will do, and the run itself reports the file
    try:
        return tokens.learn_ratios(con, {name: plan.providers[name].name for name in plan.models})
    finally:
        con.close()


def rate_limits(info: ModelInfo, rpm: int | None, tpm: int | None, cassettes: str) -> tuple[int | None, int | None]:
    """Requests and tokens per minute for a model's lane: the flags, else the model's published
    limits; none when replaying (nothing reaches a server)."""
    if cassettes == "replay":
        return None, None
    return rpm or info.default_rpm, tpm or info.default_tpm


def run_config(plan: Plan, cfg: Config, opts: RunOptions) -> dict:
    """What `runs.config` records about a new run (docs/design.md)."""
    first_provider = next(iter(plan.providers.values()))
    return {
        "models": list(plan.models),
        "provider": opts.provider if not opts.base_url else first_provider.name,
        "providers": {m: p.name for m, p in plan.providers.items()},
        "base_url": opts.base_url,
        # The variable's name, never its value.
        "api_key_env": opts.api_key_env,
        "suites": [
            {"name": sp.suite.name, "kind": sp.suite.kind, "path": sp.suite.path, "hash": sp.suite.content_hash,
             "cases": len(sp.cases), "repeats": sp.suite.repeats, "params": sp.suite.params,
             "models": [m.name for m in sp.models],
             # compare reads the floors from the run, so a gate holds what the suite said when it ran.
             "gate": sp.suite.gate.model_dump() if sp.suite.gate else None}
            for sp in plan.suites
        ],
        "options": {"concurrency": opts.concurrency, "timeout": opts.timeout, "max_attempts": opts.max_attempts,
                    "cassettes": opts.cassettes, "budget_usd": opts.budget_usd, "rpm": opts.rpm, "tpm": opts.tpm,
                    "max_answer_bytes": opts.max_answer_bytes, "allow_download_from": opts.allow_download_from},
        "rate_limits": {m: dict(zip(("rpm", "tpm"), rate_limits(i, opts.rpm, opts.tpm, opts.cassettes)))
                        for m, i in plan.models.items()},
        "model_table": {m: {"context_window": i.context_window, "kind": i.kind, "family": i.family,
                            "inherited_from": i.inherited_from, "structured_output": i.structured_output,
                            "base_model": i.base_model, "request_params": i.request_params,
                            "constrained": i.constrained}
                        for m, i in plan.models.items()},
        # The ratios the kinds sized prompts with: --resume and rescore prepare cases with them again.
        "token_ratios": {m: i.token_ratio.to_record() for m, i in plan.models.items()},
        "prices": cfg.price_table(plan.models),
        "config_file": cfg.source,
        # What --suite/--case/--tag/--limit and the overrides chose; --resume applies it again.
        "selection": opts.selection.to_record() if opts.selection is not None else None,
    }
