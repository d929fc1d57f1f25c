"""evalseed: evaluate, compare and route ByteDance Seed models over OpenAI-compatible APIs."""

__version__ = "0.1.0"
