"""The OpenAPI data shapes of the allowed internal hosts and of a job's test request."""

from jobs.api.openapi_components import INSTANT, INTEGER, STRING, Schema, nullable, obj, ref
from jobs.models import AllowedHost, Run


def target_components() -> Schema:
    host_field = AllowedHost._meta.get_field("host")
    note_field = AllowedHost._meta.get_field("note")
    return {
        "AllowedHost": obj(
            {
                "id": INTEGER,
                "host": STRING,
                "kind": {"type": "string", "enum": ["name", "network"]},
                "note": STRING,
                "created_at": INSTANT,
                "created_by": nullable(STRING),
            }
        ),
        "AllowedHostList": obj(
            {
                "results": {"type": "array", "items": ref("AllowedHost")},
                "count": INTEGER,
                "configured": {
                    "type": "array",
                    "items": STRING,
                    "description": "From CRONADMIN_HTTP_ALLOWED_HOSTS; read-only here.",
                },
            }
        ),
        "AllowedHostInput": obj(
            {
                "host": {
                    "type": "string",
                    "maxLength": host_field.max_length,
                    "description": "A host name (`billing.internal`), `*.` and a domain, an "
                    "IP address or a network (`10.1.0.0/16`, at most a /8).",
                },
                "note": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": note_field.max_length,
                    "description": "Why it may be called.",
                },
            },
            additionalProperties=False,
            example={"host": "10.20.0.0/16", "note": "the internal tools portal"},
        ),
        "TestNotification": obj(
            {
                "results": {
                    "type": "array",
                    "items": obj(
                        {
                            "channel": {"type": "string", "enum": ["email", "webhook"]},
                            "target": STRING,
                            "sent": {"type": "boolean"},
                            "detail": STRING,
                        }
                    ),
                },
                "count": INTEGER,
            }
        ),
        "TestRequest": obj(
            {
                "request": obj({"method": STRING, "url": STRING}),
                "state": {
                    "type": "string",
                    "enum": [
                        Run.State.SUCCEEDED,
                        Run.State.FAILED,
                        Run.State.TIMED_OUT,
                        Run.State.CANCELLED,
                    ],
                    "description": "What a run would have recorded.",
                },
                "reason": STRING,
                "error": STRING,
                "elapsed_ms": INTEGER,
                "response": nullable(
                    obj(
                        {
                            "status": INTEGER,
                            "reason": STRING,
                            "headers": {
                                "type": "array",
                                "items": {
                                    "type": "array",
                                    "items": STRING,
                                    "minItems": 2,
                                    "maxItems": 2,
                                },
                            },
                            "body": {"type": "string", "description": "The start of the body."},
                            "body_bytes": INTEGER,
                            "truncated": {"type": "boolean"},
                        }
                    )
                ),
            }
        ),
    }
