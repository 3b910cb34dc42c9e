"""MCP's output schemas: the committed file is what the pydantic response models generate.

``lucent.mcp.tools`` reads ``output_schemas.json`` so that MCP's cold start does not import
pydantic; regenerating it (``python -m lucent_dev.mcp_schemas``) must give the same bytes.
"""

from __future__ import annotations

from lucent.issues import models
from lucent.mcp.schemas import OUTPUT_SCHEMAS_FILE
from lucent.mcp.tools import TOOLS, tool_definitions
from lucent_dev.mcp_schemas import generate


def test_committed_output_schemas_are_what_the_models_generate() -> None:
    assert OUTPUT_SCHEMAS_FILE.read_text("utf-8") == generate()


def test_tools_list_carries_each_models_serialisation_schema() -> None:
    by_name = {
        "Issue": models.Issue,
        "IssuePage": models.IssuePage,
        "SignalPage": models.SignalPage,
        "InsightPage": models.InsightPage,
        "TimelinePage": models.TimelinePage,
    }
    definitions = {d["name"]: d for d in tool_definitions()}
    assert set(definitions) == {tool.name for tool in TOOLS}
    for tool in TOOLS:
        expected = by_name[tool.output_model].model_json_schema(mode="serialization")
        assert definitions[tool.name]["outputSchema"] == expected, tool.name
