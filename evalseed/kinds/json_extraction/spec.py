"""The `kind: json_extraction` suite file (docs/design.md): `response_format`, the JSON `schema`,
and an expected object per case that satisfies it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from ...suites.spec import BaseCase, BaseSuite, Message


class JsonExtractionCase(BaseCase):
    expected: dict[str, Any]


class JsonExtractionSuite(BaseSuite):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    kind: Literal["json_extraction"]
    response_format: Literal["json_object", "json_schema", "none"] = "json_schema"
    # `schema` would shadow pydantic's BaseModel.schema(); the file key is still `schema`.
    json_schema: dict[str, Any] = Field(alias="schema")
    messages: list[Message] = Field(min_length=1)
    cases: list[JsonExtractionCase] = Field(min_length=1)  # type: ignore[assignment]  # narrows BaseSuite.cases

    @model_validator(mode="after")
    def _schema(self) -> "JsonExtractionSuite":
        from ...scoring.json_fields import check_schema, schema_errors

        problem = check_schema(self.json_schema)
        if problem:
            raise ValueError(f"schema: not a valid JSON Schema (draft 2020-12): {problem}")
        for i, case in enumerate(self.cases):
            errs = schema_errors(case.expected, self.json_schema, limit=1)
            if errs:
                raise ValueError(f"cases[{i}].expected: does not satisfy the suite's schema ({errs[0]})")
        if "response_format" in self.params:
            raise ValueError("params.response_format: set the suite's top-level response_format instead")
        return self
