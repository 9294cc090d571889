"""python -m deployprof.results > docs/schema.json"""
import json

from .documents import json_schema

print(json.dumps(json_schema(), indent=1))
