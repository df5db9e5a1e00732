"""Schema post-processing: what the code enforces that drf-spectacular cannot infer."""

from __future__ import annotations

from typing import Any

#: input components whose serializers reject unknown keys (``StrictSerializer``)
STRICT_INPUTS = ("ChangeIn", "AlertIn", "DependencyIn", "FeedbackIn", "Link", "DiffEntry")
ARRAY_BODIES = ("ChangeInput", "AlertInput", "DependencyInput")


def postprocess(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    schemas = result.get("components", {}).get("schemas", {})
    for name in STRICT_INPUTS:
        if name in schemas:
            schemas[name]["additionalProperties"] = False
    for name in ARRAY_BODIES:
        for option in schemas.get(name, {}).get("oneOf", []):
            if option.get("type") == "array":
                option["maxItems"] = 1000
    return result
