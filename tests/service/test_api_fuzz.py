"""Schemathesis against the running app: generated requests for every operation, sent as an
admin (who may call everything), never get a 5xx, and every response matches the OpenAPI schema
(status codes documented, bodies valid)."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings

from serve.app import create_app

# The schema is the app's own; requests go over real HTTP to the server of `module_live`.
schema = schemathesis.openapi.from_dict(create_app().openapi())


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_schema_conformance(case, module_live):
    case.call_and_validate(base_url=module_live.base_url, headers=module_live.admin)
