"""Validation of every JSON document deployprof writes against the published schema, docs/schema.json."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

SCHEMA = Path(__file__).resolve().parents[1] / "docs" / "schema.json"


@lru_cache(maxsize=16)
def _validator(kind=None):
    """The whole schema (oneOf every document), or, for a known kind, its own definition (sharper messages)."""
    import jsonschema

    from deployprof.results import DOCUMENTS, document_def

    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    if kind in DOCUMENTS:
        schema = {**schema, "oneOf": [{"$ref": f"#/$defs/{document_def(kind)}"}]}
    return jsonschema.Draft202012Validator(schema)


def validate(doc: dict) -> dict:
    """Raise with the deepest violation's path when `doc` (parsed JSON) is not a valid deployprof document."""
    for validator in (_validator(doc.get("kind") if isinstance(doc, dict) else None), _validator()):
        errors = list(validator.iter_errors(doc))
        if errors:
            best = max(errors, key=lambda e: len(list(e.absolute_path)))
            raise AssertionError(f"{doc.get('kind')!r} document violates docs/schema.json at "
                                 f"{'/'.join(map(str, best.absolute_path))}: {best.message[:300]}")
    return doc
