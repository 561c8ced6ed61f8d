/// The JSON Schema (draft 2020-12) of the policy format, for editors and CI.
/// It describes the document as a YAML 1.1 loader yields it; the loader
/// additionally checks globs, regexes, templates and time zones.
public enum PolicySchema {
    public static let json = #"""
    {
      "$schema": "https://json-schema.org/draft/2020-12/schema",
      "$id": "https://aegis-exec.dev/schema/policy-v1.json",
      "title": "aegis-exec policy",
      "description": "A policy for aegis-exec: a superset of the Python Aegis policy format. Times must be quoted (\"18:00\").",
      "type": "object",
      "additionalProperties": false,
      "anyOf": [{ "required": ["rules"] }, { "required": ["commands"] }],
      "properties": {
        "version": { "description": "Format version.", "enum": ["1", 1, "1.0", 1.0] },
        "description": { "type": "string" },
        "timezone": { "description": "IANA time zone for this file's time conditions (default UTC), or a fixed offset like +02:00.", "type": "string", "minLength": 1 },
        "defaults": {
          "description": "Decision when no rule matches. Absent: medium / block.",
          "type": "object",
          "additionalProperties": false,
          "properties": {
            "risk_level": { "$ref": "#/$defs/riskLevel" },
            "approval": { "$ref": "#/$defs/approval" },
            "sandbox": { "$ref": "#/$defs/sandbox" }
          }
        },
        "audit": {
          "type": "object",
          "additionalProperties": false,
          "properties": {
            "path": { "description": "Absolute path of the SQLite audit database.", "type": "string", "pattern": "^/" },
            "synchronous": { "enum": ["normal", "full"] },
            "redact": { "description": "Regexes: a word matching one is written to the audit log as [REDACTED].", "type": "array", "items": { "type": "string" } }
          }
        },
        "approver": {
          "description": "The HTTP endpoint asked when a rule says approve. Used from the most trusted layer that names one, and only for approvals that layer or a less trusted one asks for.",
          "type": "object",
          "additionalProperties": false,
          "required": ["url"],
          "properties": {
            "url": { "description": "https URL (http only to loopback unless allow_http).", "type": "string", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://" },
            "timeout": { "description": "Seconds the endpoint has to decide, pending polls included (default 120).", "type": "number", "minimum": 1, "maximum": 3600 },
            "secret_file": { "description": "File holding the HMAC-SHA256 key: requests are signed, answers must be (mode 0600).", "type": "string", "pattern": "^/" },
            "token_file": { "description": "File holding a bearer token for the Authorization header (mode 0600).", "type": "string", "pattern": "^/" },
            "allow_http": { "description": "Allow plain http to a host that is not loopback.", "type": "boolean" },
            "ca_file": { "description": "PEM bundle of the CA that signed the endpoint's certificate.", "type": "string", "pattern": "^/" }
          }
        },
        "shell": {
          "description": "The shell that runs -c strings (default /bin/sh); from the most trusted layer that names one; it must be owned by root and writable by no one else.",
          "type": "string",
          "pattern": "^/"
        },
        "prompt": {
          "description": "The terminal prompt.",
          "type": "object",
          "additionalProperties": false,
          "properties": {
            "timeout": { "description": "Seconds a person has to answer; no answer denies (default 60).", "type": "number", "minimum": 1, "maximum": 3600 },
            "remember": { "description": "Minutes an 'a' answer covers the same command in the same terminal session (default 15; 0 offers approve-once only). The shortest value of any layer applies.", "type": "integer", "minimum": 0, "maximum": 1440 }
          }
        },
        "commands": {
          "description": "How commands become actions; tried in order before the built-in mapping.",
          "type": "array",
          "items": { "$ref": "#/$defs/command" }
        },
        "examples": {
          "description": "Commands with the decision they must get; aegis-exec validate checks them.",
          "type": "array",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["command", "approval"],
            "properties": {
              "command": { "anyOf": [{ "type": "string" }, { "type": "array", "items": { "type": "string" } }] },
              "approval": { "$ref": "#/$defs/approval" },
              "rule": { "type": "string" },
              "at": { "type": "string" }
            }
          }
        },
        "rules": {
          "description": "Tried in order; the first whose match and conditions hold decides.",
          "type": ["array", "null"],
          "items": { "$ref": "#/$defs/rule" }
        }
      },
      "$defs": {
        "riskLevel": { "enum": ["low", "medium", "high", "critical", "LOW", "MEDIUM", "HIGH", "CRITICAL", "Low", "Medium", "High", "Critical"] },
        "approval": { "enum": ["auto", "approve", "block", "AUTO", "APPROVE", "BLOCK", "Auto", "Approve", "Block"] },
        "glob": { "description": "fnmatch-style, whole string, case-sensitive: * ? [abc] [a-z] [!abc].", "type": "string" },
        "time": { "type": "string", "pattern": "^([01]?[0-9]|2[0-3]):[0-5][0-9]$" },
        "paramMap": { "type": "object", "minProperties": 1 },
        "numberMap": { "type": "object", "minProperties": 1, "additionalProperties": { "type": "number" } },
        "stringMap": { "type": "object", "minProperties": 1, "additionalProperties": { "type": "string" } },
        "stringList": { "type": "array", "items": { "type": "string" } },
        "absoluteList": { "type": "array", "items": { "type": "string", "pattern": "^/" } },
        "command": {
          "type": "object",
          "additionalProperties": false,
          "required": ["program", "type"],
          "properties": {
            "program": { "$ref": "#/$defs/glob" },
            "subcommand": { "$ref": "#/$defs/glob" },
            "args": { "$ref": "#/$defs/glob" },
            "type": { "type": "string" },
            "target": { "type": "string" },
            "options": { "$ref": "#/$defs/stringList" },
            "params": {
              "type": "object",
              "propertyNames": { "not": { "enum": ["argv", "args", "argc", "program", "path", "cwd", "flags", "options", "positional", "paths"] } }
            }
          }
        },
        "rule": {
          "type": "object",
          "additionalProperties": false,
          "properties": {
            "name": { "type": "string" },
            "description": { "type": "string" },
            "match": {
              "type": ["object", "null"],
              "additionalProperties": false,
              "properties": {
                "type": { "$ref": "#/$defs/glob" },
                "target": { "$ref": "#/$defs/glob" },
                "agent": { "$ref": "#/$defs/glob" },
                "program": { "$ref": "#/$defs/glob" },
                "args": { "$ref": "#/$defs/glob" }
              }
            },
            "conditions": { "anyOf": [{ "type": "null" }, { "$ref": "#/$defs/conditions" }] },
            "risk_level": { "$ref": "#/$defs/riskLevel" },
            "approval": { "$ref": "#/$defs/approval" },
            "sandbox": { "$ref": "#/$defs/sandbox" }
          }
        },
        "sandbox": {
          "description": "The seccomp sandbox: a profile name, or a mapping. Unset: the default profile.",
          "anyOf": [
            { "$ref": "#/$defs/sandboxProfile" },
            {
              "type": "object",
              "additionalProperties": false,
              "properties": {
                "profile": { "$ref": "#/$defs/sandboxProfile" },
                "network": { "type": "boolean" },
                "intercept": { "description": "Judge every exec in the command's process tree (default: on, except under profile none).", "type": "boolean" },
                "deny": { "type": "array", "items": { "type": "string", "pattern": "^(@[a-z-]+|[a-z0-9_]+)$" } }
              }
            }
          ]
        },
        "sandboxProfile": {
          "description": "default, strict, none, or the path of an OCI runtime-spec seccomp profile (JSON), relative to the policy file.",
          "anyOf": [{ "enum": ["default", "strict", "none"] }, { "type": "string", "pattern": "(/|\\.json$)" }]
        },
        "conditions": {
          "type": "object",
          "additionalProperties": false,
          "properties": {
            "time_after": { "$ref": "#/$defs/time" },
            "time_before": { "$ref": "#/$defs/time" },
            "weekdays": { "type": "array", "items": { "type": "integer", "minimum": 1, "maximum": 7 } },
            "param_eq": { "$ref": "#/$defs/paramMap" },
            "param_gt": { "$ref": "#/$defs/numberMap" },
            "param_lt": { "$ref": "#/$defs/numberMap" },
            "param_gte": { "$ref": "#/$defs/numberMap" },
            "param_lte": { "$ref": "#/$defs/numberMap" },
            "param_contains": { "type": "object", "minProperties": 1, "additionalProperties": { "not": { "type": "object" } } },
            "param_matches": { "$ref": "#/$defs/stringMap" },
            "flags_any": { "$ref": "#/$defs/stringList" },
            "flags_all": { "$ref": "#/$defs/stringList" },
            "arg_any": { "$ref": "#/$defs/stringList" },
            "path_inside": { "$ref": "#/$defs/absoluteList" },
            "path_outside": { "$ref": "#/$defs/absoluteList" },
            "any": { "type": "array", "items": { "$ref": "#/$defs/conditions" } },
            "not": { "$ref": "#/$defs/conditions" }
          }
        }
      }
    }
    """#
}
