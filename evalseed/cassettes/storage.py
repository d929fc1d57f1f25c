"""The cassette files: a vcrpy `Cassette` over a directory of small vcrpy JSON cassettes, one per
(provider, suite, model), loaded on first use and indexed by canonical key; written sorted, as
they go, with the timings measured while recording."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CassetteMiss, UsageError
from ..files import write_atomic
from ..jobs import file_part
from .matching import CASE_HEADER, PROVIDER_HEADER, RECORDED_HEADER, SUITE_HEADER, Info, canonical_key, header_value

if TYPE_CHECKING:
    from .session import CassetteSession

SAVE_EVERY_S = 5.0

# ---- storage: vcrpy's JSON cassette format ----------------------------------------------------


def body_out(b: Any) -> dict:
    """A body for the file: text when it is UTF-8 (all API traffic), else base64 (an image)."""
    if isinstance(b, bytes):
        try:
            return {"string": b.decode("utf-8")}
        except UnicodeDecodeError:
            import base64

            return {"base64": base64.b64encode(b).decode("ascii")}
    return {"string": b}


def text_or_none(b: Any) -> Any:
    return body_out(b).get("string") if isinstance(b, bytes) else b


def make_cassette_class() -> tuple[Any, Any, Any]:
    """Built on first use so `import evalseed.cassettes` does not import vcrpy (0.24 s)."""
    from vcr.cassette import Cassette
    from vcr.record_mode import RecordMode
    from vcr.request import Request as VcrRequest
    from vcr.serialize import deserialize
    from vcr.serializers import jsonserializer

    class ShardedCassette(Cassette):
        """A vcrpy Cassette over a directory of small cassettes, with a hash index."""

        def __init__(self, path, *, session: "CassetteSession", **kwargs):
            self._session = session
            self._root = Path(path)
            self._index: dict[str, list[int]] = {}
            self._info_of: list[Info] = []
            self._fresh: set[int] = set()  # recorded in this session: never replayed in it
            self._loaded_shards: set[tuple[str, str, str]] = set()
            self._dirty_shards: set[tuple[str, str, str]] = set()
            self._rerecorded: dict[tuple[str, str, str], set[str]] = {}
            self._tokens = itertools.count(1)
            self._by_token: dict[str, int] = {}
            self._pending_metrics: dict[str, dict] = {}
            self._last_save = time.monotonic()
            super().__init__(path, **kwargs)

        # -- what vcrpy calls ------------------------------------------------------------------

        def _load(self) -> None:
            # Shards load on first use; `rewound` is what lets vcrpy play loaded interactions.
            self.rewound = True
            self._loaded_count = 0

        def can_play_response_for(self, request) -> bool:
            info = self.info(request)
            if self.record_mode == RecordMode.ALL:
                return False
            if self._find(info) is not None:
                return True
            if self._session.mode == "replay":
                raise CassetteMiss(self._miss_message(info))
            return False

        def play_response(self, request):
            info = self.info(request)
            idx = self._find(info)
            if idx is None:
                raise CassetteMiss(self._miss_message(info))
            self.play_counts[idx] += 1
            self._session.played += 1
            response = self.data[idx][1]
            recorded = response.get("evalseed") or {}
            headers = dict(response["headers"])
            headers[RECORDED_HEADER] = [json.dumps(recorded, separators=(",", ":"))]
            return {**response, "headers": headers}

        def append(self, request, response) -> None:
            scrub = self._session.scrubber
            # The answer is scrubbed here, not in a vcrpy hook, because it needs the request's own
            # key-like strings (all headers included), which the hooks never see side by side.
            echoed = scrub.found(request.uri, request.body, *request.headers.values())
            body = response["body"]["string"]
            ctype = " ".join(v for k, vals in response["headers"].items() if k.lower() == "content-type" for v in vals)
            response = {**response, "body": {**response["body"], "string": (
                scrub.sse(body, echoed) if "event-stream" in ctype else scrub.data(body, echoed))}}
            n = len(self.data)
            super().append(request, response)  # runs the header and request scrubbing hooks
            if len(self.data) == n:
                return
            idx = n
            info = self.info(self.data[idx][0])
            self._ensure_shard(info.shard)  # appends the shard's older recordings after ours
            self._add(idx, info)
            self._fresh.add(idx)
            self._dirty_shards.add(info.shard)
            self._rerecorded.setdefault(info.shard, set()).add(info.key)
            token = getattr(request, "_evalseed_token", None)
            if token:
                self._by_token[token] = idx
                pending = self._pending_metrics.pop(token, None)
                if pending:
                    self.data[idx][1]["evalseed"] = pending
            self._session.recorded += 1

        def _save(self, force: bool = False) -> None:
            for shard in sorted(self._dirty_shards):
                self._write_shard(shard)
            self._dirty_shards.clear()
            self.dirty = False

        def __contains__(self, request) -> bool:
            return self._find(self.info(request)) is not None

        def _responses(self, request):
            # vcrpy's own lookup path (responses_of, __contains__): the same index.
            info = self.info(request)
            self._ensure_shard(info.shard)
            for idx in self._index.get(info.key, ()):
                yield idx, self.data[idx][1]

        # -- ours ------------------------------------------------------------------------------

        def next_token(self) -> str:
            return str(next(self._tokens))

        def set_metrics(self, token: str, metrics: dict) -> None:
            idx = self._by_token.get(token)
            if idx is None:
                self._pending_metrics[token] = metrics
            else:
                self.data[idx][1]["evalseed"] = metrics
                self._dirty_shards.add(self._info_of[idx].shard)
            # A long recording (the embedded model takes minutes per suite) must survive a kill:
            # written as it goes, at most every few seconds, not only when the run ends.
            now = time.monotonic()
            if now - self._last_save >= SAVE_EVERY_S:
                self._last_save = now
                self._save()

        def info(self, request) -> Info:
            cached = getattr(request, "_evalseed_info", None)
            if cached is not None:
                return cached
            scrub = self._session.scrubber
            body = request.body
            if hasattr(body, "read"):
                body = body.read()
            body = scrub.data(body)
            model = None
            if body:
                try:
                    parsed = json.loads(body)
                    if isinstance(parsed, dict) and isinstance(parsed.get("model"), str):
                        model = parsed["model"]
                except (ValueError, UnicodeDecodeError):
                    pass
            suite = header_value(request.headers, SUITE_HEADER)
            case = header_value(request.headers, CASE_HEADER)
            provider = header_value(request.headers, PROVIDER_HEADER) or self._session.provider_for(model)
            info = Info(
                key=canonical_key(request.method, scrub.uri(request.uri), body),
                shard=(file_part(provider), file_part(suite or "no-suite"), file_part(model or "no-model")),
                suite=suite,
                case=case,
                model=model,
            )
            try:
                request._evalseed_info = info
            except AttributeError:
                pass
            return info

        def shard_path(self, shard: tuple[str, str, str]) -> Path:
            provider, suite, model = shard
            return self._root / provider / suite / f"{model}.json"

        def _add(self, idx: int, info: Info) -> None:
            self._index.setdefault(info.key, []).append(idx)
            if len(self._info_of) <= idx:
                self._info_of.extend([info] * (idx + 1 - len(self._info_of)))
            self._info_of[idx] = info

        def _find(self, info: Info) -> int | None:
            self._ensure_shard(info.shard)
            for idx in self._index.get(info.key, ()):
                if idx not in self._fresh and self.play_counts[idx] == 0:
                    return idx
            return None

        def _ensure_shard(self, shard: tuple[str, str, str]) -> None:
            if shard in self._loaded_shards:
                return
            self._loaded_shards.add(shard)
            path = self.shard_path(shard)
            if not path.is_file():
                return
            try:
                requests, responses, *_ = deserialize(path.read_text(encoding="utf-8"), jsonserializer)
            except Exception as e:  # a hand-edited or merge-conflicted file
                raise UsageError(
                    f"{path}: not a readable cassette ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                    "fix it or delete it and record again."
                ) from None
            for req, resp in zip(requests, responses):
                if "base64" in resp["body"]:
                    import base64

                    resp["body"] = {"string": base64.b64decode(resp["body"]["base64"])}
                self.data.append((req, resp))
                self._add(len(self.data) - 1, self.info(req))
            self._session.loaded += len(requests)

        def _write_shard(self, shard: tuple[str, str, str]) -> None:
            rerecorded = self._rerecorded.get(shard, set()) if self.record_mode == RecordMode.ALL else set()
            rows = []
            for idx, (req, resp) in enumerate(self.data):
                info = self._info_of[idx]
                if info.shard != shard:
                    continue
                if idx not in self._fresh and info.key in rerecorded:
                    continue  # replaced by this session's recording of the same request
                rows.append((info.case or "", info.key, idx, req, resp))
            # Stable order (concurrency records in any order): small, reviewable git diffs.
            rows.sort(key=lambda r: (r[0], r[1], r[2]))
            interactions = []
            for _case, _key, _idx, req, resp in rows:
                r = req._to_dict()
                r["body"] = text_or_none(r["body"])
                out = {"status": resp["status"], "headers": resp["headers"], "body": body_out(resp["body"]["string"])}
                if resp.get("evalseed"):
                    out["evalseed"] = resp["evalseed"]
                interactions.append({"request": r, "response": out})
            # One field per line: diffs of a re-recorded suite stay reviewable.
            text = json.dumps({"version": 1, "interactions": interactions}, indent=1, ensure_ascii=False) + "\n"
            # Belt and braces: the run's own keys must never reach the disk, whatever path they took.
            text = self._session.scrubber.raw_literals(text)
            path = self.shard_path(shard)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, text, umask_mode=True)

        def _miss_message(self, info: Info) -> str:
            recorded = len(self._index.get(info.key, ()))
            where = self.shard_path(info.shard)
            what = (
                f"all {recorded} recordings of this request were already played"
                if recorded
                else f"no recording of this request in {where}"
            )
            return (
                f"cassette replay: suite {info.suite or '?'}, case {info.case or '?'}, model {info.model or '?'}: "
                f"{what} (the suite or its prompt changed since recording?); record it with --cassettes record or auto."
            )

    return ShardedCassette, VcrRequest, RecordMode
