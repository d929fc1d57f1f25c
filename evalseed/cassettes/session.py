"""`CassetteSession`: one cassette context for a whole run, and the engine's call observer."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from ..errors import UsageError
from .matching import INTERACTION_HEADER, RECORDED_HEADER, header_value
from .recording import recording_async_patch
from .scrub import KEPT_REQUEST_HEADERS, KEPT_RESPONSE_HEADERS, Scrubber
from .storage import make_cassette_class

if TYPE_CHECKING:
    from ..core import CallResult

MODES = ("off", "replay", "record", "auto")
METRIC_FIELDS = (
    "latency_ms", "ttft_ms", "ttft_answer_ms", "output_tps",
    "prompt_tokens", "completion_tokens", "reasoning_tokens", "cached_tokens", "images",
)
# Only timings are put back on replay: usage comes from the replayed body itself, as it did live.
REPLAYED_FIELDS = ("latency_ms", "ttft_ms", "output_tps")


class CassetteSession:
    """One cassette context for a whole run, and the engine's call observer.

    `mode`: `off` (nothing patched), `replay` (only recordings; a missing one stops the run with
    CassetteMiss; the network is never touched), `record` (every call goes out and is recorded,
    replacing earlier recordings of the same request), `auto` (replay what is recorded, record the
    rest). `providers` maps model names to provider names for the storage layout (a request's
    `x-evalseed-provider` header wins). `secrets`: values to scrub besides the environment's.
    """

    def __init__(
        self,
        mode: str,
        root: str | os.PathLike = "cassettes",
        *,
        providers: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
        default_provider: str = "default",
    ) -> None:
        if mode not in MODES:
            raise UsageError(f"--cassettes must be one of {', '.join(MODES)}, not {mode!r}.")
        self.mode = mode
        self.root = Path(root)
        self.providers = dict(providers or {})
        self.default_provider = default_provider
        self.scrubber = Scrubber(secrets)
        self.played = 0
        self.recorded = 0
        self.loaded = 0
        self._cm: Any = None
        self.cassette: Any = None

    def provider_for(self, model: str | None) -> str:
        return self.providers.get(model or "", self.default_provider)

    def __enter__(self) -> "CassetteSession":
        if self.mode == "off":
            return self
        if self.mode == "replay" and not self.root.is_dir():
            raise UsageError(
                f"{self.root}: no cassettes to replay; record them first with --cassettes record, "
                "or pass --cassette-dir."
            )
        ShardedCassette, VcrRequest, RecordMode = make_cassette_class()
        record_mode = {"replay": RecordMode.NONE, "record": RecordMode.ALL, "auto": RecordMode.NEW_EPISODES}[self.mode]
        scrub = self.scrubber

        def before_record_request(request):
            request.uri = scrub.uri(request.uri)
            request.body = scrub.data(request.body)
            request.headers = {
                k: scrub.text(v) for k, v in request.headers.items() if k.lower() in KEPT_REQUEST_HEADERS
            }
            return request

        def before_record_response(response):
            response["headers"] = {
                k: [scrub.text(x) for x in v]
                for k, v in response["headers"].items()
                if k.lower() in KEPT_RESPONSE_HEADERS
            }
            return response

        kwargs: dict[str, Any] = dict(
            path=str(self.root),
            session=self,
            record_mode=record_mode,
            before_record_request=before_record_request,
            before_record_response=before_record_response,
        )
        cm = ShardedCassette.use(**kwargs)
        if self.mode in ("record", "auto"):
            # The patch needs the cassette object, which vcrpy builds in `__enter__`: enter, then
            # lay our patch over vcrpy's httpx2 one (undone in reverse order on exit).
            import contextlib
            from unittest import mock

            import httpx2

            # The real transport method, read before vcrpy replaces it with its buffering stub.
            original = httpx2.AsyncHTTPTransport.handle_async_request
            stack = contextlib.ExitStack()
            cassette = stack.enter_context(cm)
            obj, attr, fn = recording_async_patch(cassette, VcrRequest, original)
            stack.enter_context(mock.patch.object(obj, attr, fn))
            self._cm = stack
            self.cassette = cassette
        else:
            self.cassette = cm.__enter__()
            self._cm = cm
        return self

    def __exit__(self, *exc_info) -> None:
        if self._cm is not None:
            cm, self._cm = self._cm, None
            cm.__exit__(*exc_info)

    # -- the engine's observer -----------------------------------------------------------------

    def after_call(self, call: "CallResult", response_headers: Mapping[str, str] | None) -> "CallResult":
        """Record mode: store the engine's measurements with the interaction. Replay: return the
        call with the figures measured when it was recorded, marked `replayed`."""
        if self.mode == "off" or self.cassette is None:
            return call
        recorded = header_value(response_headers, RECORDED_HEADER)
        if recorded is not None:
            try:
                figures = json.loads(recorded) or {}
            except ValueError:
                figures = {}
            changes: dict[str, Any] = {f: figures.get(f) for f in REPLAYED_FIELDS}
            if "ttft_answer_ms" in figures:  # recordings made before it was measured lack it (engine/api.py)
                changes["ttft_answer_ms"] = figures["ttft_answer_ms"]
            return dataclasses.replace(call, replayed=True, **changes)
        token = header_value(response_headers, INTERACTION_HEADER)
        if token:
            metrics = {f: getattr(call, f, None) for f in METRIC_FIELDS}
            metrics["recorded_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            self.cassette.set_metrics(token, {k: v for k, v in metrics.items() if v is not None})
        return call

    def summary(self) -> str:
        if self.mode == "off":
            return "cassettes off"
        return f"cassettes {self.mode} ({self.root}): {self.played} replayed, {self.recorded} recorded"
