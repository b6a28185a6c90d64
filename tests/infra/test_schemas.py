"""The table's schemas at synth: a schema that is not JSON Schema 2020-12, or that the function's validator would
read differently, stops synth in one line naming the route; service/validators/ is exactly what the table
generates, and the shipped copy is current."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from prod_serverless import schemas
from service.routes import ROUTES
from service.routing import Healthy, Route, RouteError
from tests.schema_formats import formats_named

ROOT = Path(__file__).resolve().parents[2]

ITEM = {"type": "object", "properties": {"qty": {"type": "integer", "minimum": 1}}, "required": ["qty"]}


def _route(method: str = "POST", path: str = "/items/{id}", **options: Any) -> Route:
    return Route(
        method,
        path,
        lambda request: (200, {}),
        summary="s",
        public="schema tests only",
        healthy=options.pop("healthy", Healthy(200, ())),
        **options,
    )


def test_the_shipped_validators_are_what_the_table_generates() -> None:
    assert schemas.stale(ROUTES) == []


def test_a_valid_schema_passes_and_compiles_to_a_module_of_its_own() -> None:
    route = _route(body=ITEM)
    schemas.check([route])
    files = schemas.generated([route])
    assert sorted(files) == ["__init__.py", "post_items_id_body.py"]
    assert "MODULES = {\n    'POST /items/{id} body': 'post_items_id_body',\n}\n" in files["__init__.py"]
    assert "import fastjsonschema" not in files["post_items_id_body.py"]
    assert "from fastjsonschema" not in files["post_items_id_body.py"]
    assert "from service.validation import JsonSchemaValueException" in files["post_items_id_body.py"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"body": {"type": "strin"}},
            r"^route POST /items/\{id\}: body is not a valid JSON Schema \(2020-12\) at /type:",
        ),
        (
            {"body": {"type": "object", "minProperties": -1}},
            r"body is not a valid JSON Schema \(2020-12\) at /minProperties",
        ),
        ({"answers": {201: {"type": 5}}}, r"^route POST /items/\{id\}: answers\[201\] is not a valid JSON Schema"),
        (
            {"body": {"$ref": "#/$defs/x", "$defs": {"x": {}}}},
            r"body uses \$defs, \$ref at /: the function's validator",
        ),
        ({"body": {"properties": {"a": {"prefixItems": [{}]}}}}, r"body uses prefixItems at /properties/a:"),
        ({"body": {"unevaluatedProperties": False}}, r"body uses unevaluatedProperties at /:"),
        (
            {"query": {"type": "object", "properties": {"n": {"type": "integer"}}}},
            r'^route POST /items/\{id\}: query: n must be \{"type": "string", …\}: HTTP API passes strings$',
        ),
    ],
)
def test_a_schema_the_function_cannot_hold_stops_synth_naming_the_route(options: dict[str, Any], message: str) -> None:
    with pytest.raises(RouteError, match=message):
        schemas.check([_route(**options)])


def test_answer_schemas_may_use_any_2020_12_keyword() -> None:
    """Only request schemas are compiled; an answer is described, not validated by the function."""
    schemas.check([_route(answers={201: {"type": "object", "unevaluatedProperties": False}})])


def test_a_format_the_validator_would_skip_stops_synth_in_one_line() -> None:
    body = {"type": "object", "properties": {"at": {"type": "string", "format": "no-such-format"}}}
    with pytest.raises(
        RouteError, match=r"^route POST /items/\{id\}: body: format 'no-such-format' at /properties/at "
    ):
        schemas.check([_route(body=body)])
    schemas.check([_route(body={"type": "string", "format": "date-time"})])


def test_two_routes_whose_names_collide_get_two_modules() -> None:
    table = [_route("GET", "/a/{b}", query={"type": "object"}), _route("GET", "/a/b", query={"type": "object"})]
    assert sorted(schemas.generated(table)) == ["__init__.py", "get_a_b_query.py", "get_a_b_query_.py"]


def test_write_adds_changes_and_removes_modules_and_stale_says_which(tmp_path: Path) -> None:
    first, second = [_route(body=ITEM)], [_route(query={"type": "object"})]
    assert schemas.write(first, tmp_path) == ["__init__.py", "post_items_id_body.py"]
    assert schemas.stale(first, tmp_path) == []
    assert schemas.stale(second, tmp_path) == ["__init__.py", "post_items_id_body.py", "post_items_id_query.py"]
    schemas.write(second, tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["__init__.py", "post_items_id_query.py"]
    (tmp_path / "post_items_id_query.py").write_text("# edited by hand\n")
    assert schemas.stale(second, tmp_path) == ["post_items_id_query.py"]


def test_the_generated_code_must_import_what_schemas_replaces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("fastjsonschema.compile_to_code", lambda *args, **kwargs: "VERSION = '9'\n")
    with pytest.raises(RouteError, match=r"^fastjsonschema's generated code changed \('from decimal import Decimal'"):
        schemas.generated([_route(body=ITEM)])


def test_synth_refuses_validators_the_table_no_longer_generates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from main import build_app

    monkeypatch.setattr(schemas, "VALIDATORS", tmp_path)
    (tmp_path / "put_gone_body.py").write_text("# a route that is gone\n")
    stale = ", ".join(sorted([*schemas.generated(ROUTES), "put_gone_body.py"]))  # the table's own, then the extra
    with pytest.raises(RouteError) as refused:
        build_app()
    assert str(refused.value) == f"service/validators/ ({stale}) is stale for the table's schemas: run `make docs`"


@pytest.mark.parametrize(
    ("inner", "pointer"),
    [
        ({"items": {"prefixItems": [{}]}}, "/items"),
        ({"not": {"prefixItems": [{}]}}, "/not"),
        ({"additionalProperties": {"prefixItems": [{}]}}, "/additionalProperties"),
        ({"patternProperties": {"^a": {"prefixItems": [{}]}}}, "/patternProperties/^a"),
        ({"anyOf": [{}, {"prefixItems": [{}]}]}, "/anyOf/1"),
        ({"allOf": [{"oneOf": [{"prefixItems": [{}]}]}]}, "/allOf/0/oneOf/0"),
        ({"if": {}, "then": {}, "else": {"prefixItems": [{}]}}, "/else"),
    ],
)
def test_a_keyword_is_found_wherever_it_is_nested(inner: dict[str, Any], pointer: str) -> None:
    with pytest.raises(
        RouteError, match=f"^route POST /items/\\{{id\\}}: body uses prefixItems at {re.escape(pointer)}:"
    ):
        schemas.check([_route(body=inner)])


def test_the_regex_format_is_one_the_function_checks() -> None:
    assert "regex" in schemas.formats()
    schemas.check([_route(body={"type": "string", "format": "regex"})])


def test_write_restores_a_file_edited_by_hand_after_an_unchanged_one(tmp_path: Path) -> None:
    table = [_route(body=ITEM)]
    schemas.write(table, tmp_path)
    (tmp_path / "__init__.py").write_text("MODULES = {}\n")  # the last file written; the module before it unchanged
    assert schemas.write(table, tmp_path) == ["__init__.py"]
    assert schemas.stale(table, tmp_path) == []


def test_the_refusals_are_exactly_these_lines() -> None:
    with pytest.raises(RouteError) as refused:
        schemas.check([_route(body={"$ref": "#/x"})])
    assert str(refused.value) == (
        "route POST /items/{id}: body uses $ref at /: the function's validator (draft 7) reads only the keywords "
        "draft 7 and 2020-12 share; inline a $ref, use those keywords"
    )
    with pytest.raises(RouteError) as refused:
        schemas.check([_route(body={"type": "string", "format": "nope"})])
    assert str(refused.value) == (
        f"route POST /items/{{id}}: body: format 'nope' at / is not one the function checks "
        f"({', '.join(schemas.formats())}); use a pattern"
    )
    with pytest.raises(RouteError) as refused:
        schemas.check([_route(body={"properties": {"a": {"type": "nope"}}})])
    assert str(refused.value).startswith(
        "route POST /items/{id}: body is not a valid JSON Schema (2020-12) at /properties/a/type: "
    )


def test_every_answer_schema_is_checked_not_only_the_first() -> None:
    with pytest.raises(RouteError, match=r"answers\[201\] is not a valid JSON Schema"):
        schemas.check([_route(answers={200: {"type": "object"}, 201: {"type": 5}}, healthy=Healthy(202, ()))])


@pytest.mark.parametrize(
    "query",
    [{"type": "object"}, {"type": "object", "properties": {"q": {"type": "string", "maxLength": 3}}}],
)
def test_a_query_of_strings_or_of_nothing_declared_passes(query: dict[str, Any]) -> None:
    schemas.check([_route(query=query)])


def test_a_query_property_that_is_not_an_object_schema_is_refused() -> None:
    with pytest.raises(RouteError, match=r'query: q must be \{"type": "string", …\}'):
        schemas.check([_route(query={"type": "object", "properties": {"q": True}})])


def test_the_root_paths_module_and_the_generated_files_end() -> None:
    root = _route("GET", "/", query={"type": "object"})
    assert schemas.module_name(root, "query") == "get_root_query"
    files = schemas.generated([root])
    assert files["get_root_query.py"].endswith("\n") and not files["get_root_query.py"].endswith("\n\n")


def test_the_metaschema_names_no_iri_format_so_synth_goes_without_the_iri_grammar() -> None:
    """main.py imports jsonschema without its IRI checker (prod_serverless/schemas.py): check() must never need it."""
    from jsonschema_specifications import REGISTRY  # type: ignore[import-untyped]

    named = {
        name
        for uri in REGISTRY
        if uri.startswith("https://json-schema.org/draft/2020-12/")
        for name in formats_named(REGISTRY.contents(uri))
    }
    assert {"regex", "uri", "uri-reference"} <= named  # the walk finds the formats the metaschema names
    assert named & schemas.IRI_FORMATS == set()


def test_the_formats_a_schema_names_are_found_at_any_depth() -> None:
    schema = {"format": "uri", "anyOf": [{"format": "iri"}, {"items": [{"format": "date"}]}], "x": {"format": 5}}
    assert sorted(formats_named(schema)) == ["date", "iri", "uri"]


def test_without_the_iri_grammar_its_import_fails() -> None:
    saved = sys.modules.pop(schemas.IRI_GRAMMAR, None)  # restored below: other tests' jsonschema keeps its checker
    try:
        schemas.without_iri_grammar()
        with pytest.raises(ImportError):
            __import__("rfc3987_syntax")
    finally:
        sys.modules.pop(schemas.IRI_GRAMMAR, None)
        if saved is not None:
            sys.modules[schemas.IRI_GRAMMAR] = saved


def test_without_the_iri_grammar_jsonschema_skips_only_the_iri_formats() -> None:
    """What main.py's process runs with: no Lark grammar built, and the metaschema's own formats still checked."""
    code = (
        "import sys; from prod_serverless.schemas import without_iri_grammar; without_iri_grammar(); "
        "from jsonschema import Draft202012Validator, FormatChecker; from jsonschema.exceptions import SchemaError\n"
        "try: Draft202012Validator.check_schema({'pattern': '('})\n"
        "except SchemaError as error: print(error.message)\n"
        "print(sorted(m for m, module in sys.modules.items() if module and m.startswith(('rfc3987', 'lark'))), "
        "sorted({'iri', 'iri-reference', 'regex', 'uri-reference'} & set(FormatChecker.checkers)))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (done.stdout, done.stderr) == ("'(' is not a 'regex'\n[] ['regex', 'uri-reference']\n", "")
