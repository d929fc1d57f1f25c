"""The `kind: tool_calling` suite file (docs/design.md): OpenAI tool specs, canned tool results,
and BFCL-style expected calls per case."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ...suites.spec import BaseCase, BaseSuite, Message


class FunctionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool | None = None

    @field_validator("parameters")
    @classmethod
    def _parameters(cls, v: dict) -> dict:
        from ...scoring.json_fields import check_schema

        if v.get("type", "object") != "object":
            raise ValueError("the top-level type must be object")
        problem = check_schema(v)
        if problem:
            raise ValueError(f"not a valid JSON Schema: {problem}")
        return v


class ToolSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["function"] = "function"
    function: FunctionSpec


ExpectedCall = dict[str, dict[str, list[Any]]]


class ToolCallingCase(BaseCase):
    expected_calls: list[ExpectedCall]
    tools: list[ToolSpec] | None = None
    tool_results: dict[str, Any] | None = None
    messages: list[Message] | None = None
    order: Literal["any", "strict"] | None = None


class ToolCallingSuite(BaseSuite):
    kind: Literal["tool_calling"]
    tools: list[ToolSpec] | None = None
    tool_results: dict[str, Any] = Field(default_factory=dict)
    max_steps: int = Field(default=4, ge=1, le=50)
    order: Literal["any", "strict"] = "any"
    # BFCL's rules by default; true compares "variable" values after normalisation and accepts
    # ints in float arrays, as evalseed did before (docs/scoring.md).
    lenient: bool = False
    cases: list[ToolCallingCase] = Field(min_length=1)  # type: ignore[assignment]  # narrows BaseSuite.cases

    @model_validator(mode="after")
    def _cases(self) -> "ToolCallingSuite":
        if "tools" in self.params:
            raise ValueError("params.tools: put tools at the top level (or per case), not in params")
        for i, case in enumerate(self.cases):
            tools = case.tools if case.tools is not None else self.tools
            if not tools:
                raise ValueError(f"cases[{i}].tools: no tools: give `tools` at the top level or in the case")
            names = [t.function.name for t in tools]
            if len(set(names)) != len(names):
                raise ValueError(f"cases[{i}].tools: two tools have the same name")
            for fn in case.tool_results or {}:
                if fn not in names:
                    raise ValueError(f"cases[{i}].tool_results.{fn}: no tool of that name in this case's tools {names}")
            if not (case.messages or self.messages):
                raise ValueError(f"cases[{i}].messages: no messages: give `messages` at the top level or in the case")
            for j, entry in enumerate(case.expected_calls):
                if len(entry) != 1:
                    raise ValueError(f"cases[{i}].expected_calls[{j}]: one function per entry, "
                                     "as {function_name: {arg: [allowed values]}}")
                (fn,) = entry
                if fn not in names:
                    raise ValueError(f"cases[{i}].expected_calls[{j}]: {fn!r} is not one of the tools {names}")
        offered = {t.function.name for t in self.tools or []} | {
            t.function.name for c in self.cases for t in c.tools or []}
        for fn in self.tool_results:
            if fn not in offered:
                raise ValueError(f"tool_results.{fn}: no tool of that name (a typo would leave its calls unanswered)")
        return self
