"""The run's API keys kept out of everything stored or printed."""

from __future__ import annotations

import json
from typing import Iterable


class Redactor:
    """Removes known secrets from any text we store or print (error messages echo requests)."""

    def __init__(self, secrets: Iterable[str] = ()):
        self.secrets = [s for s in secrets if s and len(s) >= 6]

    def __call__(self, text: str) -> str:
        for s in self.secrets:
            if s in text:
                text = text.replace(s, "***")
        return text

    def body(self, response: dict) -> dict:
        """A response body with the secrets removed from every string in it. For a streamed
        answer this must run on the assembled body: in pieces, a key never sits whole in a chunk."""
        if not self.secrets:
            return response
        text = json.dumps(response, ensure_ascii=False)
        scrubbed = self(text)
        return response if scrubbed is text else json.loads(scrubbed)
