#!/usr/bin/env python3
"""Validates YAML files against a JSON Schema with a real validator
(python3-jsonschema), the way an editor or CI would.

usage: check-schema.py SCHEMA.json FILE...   prints "FILE: ok" or "FILE: rejected: why" per file
"""
import json
import sys

import jsonschema
import yaml

schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
for path in sys.argv[2:]:
    try:
        doc = yaml.safe_load(open(path, encoding="utf-8"))
    except Exception as e:  # malformed YAML is rejected too
        print(f"{path}: rejected: {type(e).__name__}")
        continue
    errors = list(validator.iter_errors(doc))
    print(f"{path}: ok" if not errors else f"{path}: rejected: {errors[0].message[:120]}")
