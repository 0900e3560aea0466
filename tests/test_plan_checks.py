"""plan_checks on what no TOML file can hold: pydantic errors on other data (an importer's
JSON can hold null; a document can be something other than a table) and a TOML error
message without a position. Plans written as TOML are in the corpus (test_plan_corpus)."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
from pydantic import ValidationError

from worktree_agents.errors import PlanProblem
from worktree_agents.plan import Plan
from worktree_agents.plan_checks import toml_problem, translate

TOML_FIX = (
    "correct the TOML syntax there: strings need quotes, and each feature is a [[feature]] table"
)


def problems_of(raw: Any) -> list[PlanProblem]:
    with pytest.raises(ValidationError) as caught:
        Plan.model_validate(raw)
    return translate(caught.value, raw if isinstance(raw, dict) else {})


def test_a_document_that_is_not_a_table() -> None:
    assert problems_of(5) == [
        PlanProblem("top level", None, "must be a table, not an integer (5)", "write it as a table")
    ]


def test_null_values_read_as_nothing() -> None:
    assert problems_of({"feature": None}) == [
        PlanProblem(
            "top level",
            "feature",
            "must be an array of tables, not nothing",
            "write each feature as a [[feature]] table (double brackets)",
        )
    ]
    assert problems_of({"run": {"max_parallel": None}, "feature": [{"id": None}]}) == [
        PlanProblem(
            "[run]",
            "max_parallel",
            "must be an integer, not nothing (None)",
            "write it as an integer",
        ),
        PlanProblem(
            "feature #1", "id", "must be a string, not nothing (None)", "write it as a string"
        ),
    ]


def test_a_toml_error_without_a_position_names_the_file() -> None:
    error = tomllib.TOMLDecodeError("something odd")
    assert toml_problem(error, "a = 1\n", "wta.toml") == PlanProblem(
        "wta.toml", None, "TOML syntax error: something odd", TOML_FIX
    )
