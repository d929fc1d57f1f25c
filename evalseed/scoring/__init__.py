"""Pure scorers: plain data in, verdicts out; nothing here knows HTTP or the store."""
