"""The OpenAPI document is part of the contract: any change to it must be deliberate.

progress/tests/fixtures/openapi.yaml is the document as committed. If a change to the API is
meant, regenerate it with `manage.py spectacular --file progress/tests/fixtures/openapi.yaml`
and commit it beside the change.
"""

from pathlib import Path

import yaml
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiYamlRenderer

FIXTURE = Path(__file__).parent / "fixtures" / "openapi.yaml"


def test_generated_schema_equals_the_committed_document():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    generated = OpenApiYamlRenderer().render(schema, renderer_context={}).decode()
    # Compared as data first (a readable diff of what changed), then as text (ordering too).
    assert yaml.safe_load(generated) == yaml.safe_load(FIXTURE.read_text())
    assert generated == FIXTURE.read_text()
