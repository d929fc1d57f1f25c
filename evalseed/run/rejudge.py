"""`evalseed rescore --judge MODEL`: the judge calls of a rescore, through the engine.

The graded model is never asked again: each stored answer is handed to its kind's `judge` hook
(`Generation.judge`) with `MODEL` in place of every judge check's own, over one engine lane for
the judge model (retries, rate limits, redaction as in a run; no budget). The lane goes where the
run's calls went: the run's `--base-url` with its key variable when it had one, else the judge
model's provider (the run's provider, or `local` for the embedded model, whose server is started
for the rescore as a run starts it)."""

from __future__ import annotations

import asyncio
from contextlib import ExitStack
from typing import Any, Awaitable, Callable

from ..config import Config, Provider


def judge_provider(cfg: Config, model: str, run_config: dict) -> Provider:
    info = cfg.resolve_model(model, allow_unknown=bool(run_config.get("base_url")))
    if run_config.get("base_url"):
        return Provider(run_config.get("provider") or "custom", run_config["base_url"],
                        run_config.get("api_key_env") or "OPENAI_API_KEY")
    return cfg.provider(info.provider or run_config.get("provider") or cfg.default_provider)


def run_judges(cfg: Config, model: str, run_config: dict, work: list[tuple[Any, Any, Any, str, str]],
               on_result: Callable[[Any, dict], None]) -> None:
    """For each `(kind, prepared, answer, suite, case_id)` in `work`, ask the judge through one
    lane and hand the results to `on_result(prepared, results)`."""
    for kind in {id(w[0]): w[0] for w in work}.values():
        kind.use_config(cfg)  # the judge is resolved and priced in the config this command loaded

    async def ask(api_for: Callable[[str, str], Any], info: Any) -> None:
        for kind, prepared, answer, suite, case_id in work:
            on_result(prepared, await kind.judge(prepared, answer, api_for(suite, case_id), model=model))

    with_judge_lane(cfg, model, run_config, ask)


def with_judge_lane(cfg: Config, model: str, run_config: dict,
                    body: Callable[[Callable[[str, str], Any], Any], Awaitable[None]]) -> None:
    """Run `await body(api_for, info)` with one engine lane for the judge `model` (retries, rate
    limits, redaction as in a run; no budget): `api_for(suite, case_id)` is the `Api` of one case,
    `info` the judge's model table entry as its provider sees it. Used by `rescore --judge` and
    `judge-pair` (run/judge_pair.py)."""
    from ..engine import Budget, EngineOptions, JobApi, ModelLane, Redactor
    from ..engine.transport import api_http_client
    from .checks import api_key, needs_key

    provider = judge_provider(cfg, model, run_config)
    info = cfg.effective_model(cfg.resolve_model(model, allow_unknown=True), provider)
    opts = run_config.get("options") or {}
    eng = EngineOptions(concurrency=1, timeout=float(opts.get("timeout") or 300.0),
                        max_attempts=int(opts.get("max_attempts") or 6))
    key = api_key(provider, needs_key(provider, "off"))
    with ExitStack() as stack:
        url = provider.base_url
        server_failure = None
        if provider.name == "local" and not url:
            from ..local_model import local_server

            server = stack.enter_context(local_server(info))
            url, server_failure = server.base_url, server.failure

        async def main() -> None:
            import openai

            client = openai.AsyncOpenAI(base_url=url, api_key=key or "no-key", max_retries=0, timeout=eng.timeout,
                                        http_client=api_http_client(eng.timeout))
            lane = ModelLane(info, provider, client, eng, Budget(None), Redactor([key] if key else []),
                             server_failure=server_failure)
            try:
                await body(lambda suite, case_id: JobApi(lane, suite, case_id), info)
            finally:
                await client.close()
                await lane.downloads.aclose()

        asyncio.run(main())
