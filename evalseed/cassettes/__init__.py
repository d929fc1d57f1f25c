"""Record and replay the engine's HTTP calls with vcrpy, sharded and indexed.

One `CassetteSession` wraps a whole run: vcrpy patches httpx globally, so concurrent requests
cannot each have their own cassette. The session's cassette is a vcrpy `Cassette` subclass that

* stores interactions in small files, one per (provider, suite, model):
  `<root>/<provider>/<suite>/<model>.json`. Each file is an ordinary vcrpy cassette (format
  version 1, vcrpy's own JSON serializer: `vcr.use_cassette(path, serializer="json")` opens it);
  our only addition is a `response.evalseed` mapping with the timings measured while recording.
  Small files keep git diffs readable and let a replay load only the suites it runs. JSON rather
  than YAML because loading is the replay's largest cost of our own: 1,000 streamed interactions
  took 2.1 s to load as YAML (libyaml) and 0.065 s as JSON on this machine.
* finds a request by a hash of its canonical form (method, URL path and query, JSON body with
  sorted keys), computed once per request, in a dict: O(1) per lookup. Stock vcrpy compares each
  request with every recorded one, parsing JSON each time (an earlier design: quadratic, 64 s for 1,000).
  The host is not part of the match, so the embedded server's random port does not matter.
* in `record` / `auto` mode passes streamed responses through to the client as they arrive and
  records them when the stream ends. vcrpy's own httpx stub reads the whole response before the
  client sees a byte, which would make every recorded time-to-first-token equal the latency.
  Replay uses vcrpy's stock httpx stub.
* keeps secrets out: only a few named headers are stored at all, and every stored string is
  scrubbed of the run's API keys, any `*_API_KEY`/`*_TOKEN`/`*_SECRET` environment value and
  key-like strings (`sk-...`, bearer tokens, long hex or mixed base64 runs).

The session is also the engine's call observer (`after_call`): while recording it stores the
engine's measured latency, TTFT, output tokens/s and usage with the interaction; on replay it puts
those recorded figures back on the call and sets `replayed=True`.

The modules: `session` (`CassetteSession`, the run's context and call observer), `storage` (the
sharded, indexed vcrpy cassette and its files), `matching` (canonical keys, headers, shards),
`recording` (record mode's pass-through transport), `scrub` (secrets kept out).
"""

from __future__ import annotations

from .matching import canonical_key
from .scrub import REDACTED, Scrubber
from .session import MODES, CassetteSession

__all__ = ["MODES", "REDACTED", "CassetteSession", "Scrubber", "canonical_key"]
