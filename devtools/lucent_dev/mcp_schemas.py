"""MCP's output schemas, generated from the Data API's pydantic models.

    python -m lucent_dev.mcp_schemas     rewrites layers/common/lucent/mcp/output_schemas.json

The MCP function reads the committed file (``lucent.mcp.tools.output_schemas``) instead of
building the schemas at start, which would import pydantic into its cold start.
``tests/unit/test_mcp_output_schemas.py`` fails if the file differs from what this generates.
"""

from __future__ import annotations

import json

from pydantic import BaseModel

from lucent.issues import models
from lucent.mcp.schemas import OUTPUT_SCHEMAS_FILE
from lucent.mcp.tools import TOOLS

_MODELS: dict[str, type[BaseModel]] = {
    "Issue": models.Issue,
    "IssuePage": models.IssuePage,
    "SignalPage": models.SignalPage,
    "InsightPage": models.InsightPage,
    "TimelinePage": models.TimelinePage,
}


def generate() -> str:
    """The file's text: every tool's output model's schema (serialisation mode), by name."""
    names = sorted({tool.output_model for tool in TOOLS})
    schemas = {name: _MODELS[name].model_json_schema(mode="serialization") for name in names}
    return json.dumps(schemas, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    OUTPUT_SCHEMAS_FILE.write_text(generate(), "utf-8")
    print(f"wrote {OUTPUT_SCHEMAS_FILE}")


if __name__ == "__main__":
    main()
