"""MCP's output schemas are the Data API's response models' serialisation schemas: each tool
answers what the REST route of the same operation answers."""

from __future__ import annotations

from lucent.issues import models
from lucent.mcp.tools import TOOLS, tool_definitions

ANSWERS = {
    "list_issues": models.IssuePage,
    "get_issue": models.Issue,
    "update_issue_status": models.Issue,
    "list_signals": models.SignalPage,
    "list_insights": models.InsightPage,
    "get_session_timeline": models.TimelinePage,
}


def test_tools_list_carries_each_models_serialisation_schema() -> None:
    definitions = {d["name"]: d for d in tool_definitions()}
    assert set(definitions) == {tool.name for tool in TOOLS} == set(ANSWERS)
    for name, model in ANSWERS.items():
        expected = model.model_json_schema(mode="serialization")
        assert definitions[name]["outputSchema"] == expected, name
