"""Validation of every JSON document deployprof writes against the published schema, docs/schema.json."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

SCHEMA = Path(__file__).resolve().parents[1] / "docs" / "schema.json"


@lru_cache(maxsize=1)
def _validator():
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def validate(doc: dict) -> dict:
    """Raise with the first violation's path when `doc` (parsed JSON) is not a valid deployprof document."""
    errors = sorted(_validator().iter_errors(doc), key=lambda e: len(list(e.absolute_path)))
    if errors:
        best = min(errors, key=lambda e: -len(list(e.absolute_path)))
        raise AssertionError(f"{doc.get('kind')!r} document violates docs/schema.json at "
                             f"{'/'.join(map(str, best.absolute_path))}: {best.message[:300]}")
    return doc
