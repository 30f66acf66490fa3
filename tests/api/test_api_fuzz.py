"""Fuzz every operation of the OpenAPI document, with and without a key, and replay what fuzzing found.

The fuzz runs a bounded number of cases through schemathesis' strategies with
hypothesis directly (its pytest plugin does not load under the pytest we
use) and checks more than "no 500": every answer's status, content type and
body must be the ones the document declares, and an operation that declares
the bearer scheme must refuse a request without a valid key.

The named tests below are inputs fuzzing once turned into server errors
(each a 500 that also dropped the connection). Each must be a 422 with a
stable code, answered on a connection that then serves the next request.
"""

from __future__ import annotations

import time

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import photo_upload, wait_done

# Per operation and mode: with the operations issues 13-15 added, 25 took 45 s of the
# suite's 10 minutes; 15 still reaches every operation in both modes within the cap.
MAX_EXAMPLES = 15
TIME_CAP_S = 35.0  # per fuzz test; the two together stay well under 90 s on 2 cores


def no_server_error(ctx, response, case):
    """``not_a_server_error``, except the documented 503 for a prompt on a base model whose weights are absent."""
    if response.status_code == 503 and (response.json() or {}).get("error", {}).get("code") == "model_unavailable":
        return None
    return not_a_server_error(ctx, response, case)


CHECKS = [no_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
PUBLIC = {"/healthz", "/readyz", "/keys"}


def _operations(server):
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


def _fuzz(operations, modes, call) -> int:
    started = time.monotonic()
    calls = 0

    for operation in operations:
        for mode in modes:
            if time.monotonic() - started > TIME_CAP_S:
                return calls

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            def run(case):
                nonlocal calls
                calls += 1
                call(case)

            try:
                run()
            except Unsatisfiable:
                # No negative case exists for an operation without inputs (/healthz).
                continue
    return calls


def _by_link(operation: dict) -> bool:
    """Images and photos open with the key or with a signed link (?expires=&signature=) and no key."""
    return any(p["name"] == "signature" and p["in"] == "query" for p in operation.get("parameters", []))


def test_openapi_declares_the_bearer_scheme_on_every_operation_that_needs_a_key(server):
    document = httpx.get(server.url + "/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    [(name, scheme)] = schemes.items()
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    links = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            where = (method, path)
            if path in PUBLIC:
                assert "security" not in operation, where
            elif _by_link(operation):
                links += 1
                assert operation["security"] == [{name: []}, {}], where  # the key, or nothing
                assert {"401", "403"} <= set(operation["responses"]), where
            else:
                assert operation["security"] == [{name: []}], where
                assert "401" in operation["responses"], where
    assert links >= 1


@pytest.fixture(scope="module")
def seeded(server, alice, photo_files) -> dict:
    """A tune and a finished prompt, so that lists and objects are checked against their schemas with real rows."""
    with server.client(alice["key"]) as client:
        tune = client.post(
            "/tunes",
            data={"tune[title]": "fuzz seed", "tune[name]": "woman", "tune[base_tune_id]": "999"},
            files=[photo_upload(photo_files["1.jpg"]), photo_upload(photo_files["2.jpg"])],
        )
        assert tune.status_code in (200, 201), tune.text
        fields = {"text": f"headshot <faceid:{tune.json()['id']}:1>", "steps": 1, "w": 64, "h": 64, "num_images": 1, "seed": 1}
        prompt = client.post("/tunes/999/prompts", json={"prompt": fields})
        assert prompt.status_code == 201, prompt.text
        done = wait_done(client, prompt.json()["id"], timeout=120)
    return {"tune": tune.json(), "prompt": done}


def test_fuzz_with_a_key_answers_as_declared(server, alice, seeded):
    operations = _operations(server)
    assert len(operations) >= 10
    headers = {"Authorization": f"Bearer {alice['key']}"}
    answered: dict[int, int] = {}
    with requests.Session() as session:

        def call(case):
            # ignored_auth: a 2xx with the key is sent again without it and with a wrong one: both must be refused.
            response = case.call_and_validate(
                base_url=server.url, session=session, headers=headers, checks=[*CHECKS, ignored_auth], timeout=30
            )
            answered[response.status_code] = answered.get(response.status_code, 0) + 1

        calls = _fuzz(operations, (GenerationMode.POSITIVE, GenerationMode.NEGATIVE), call)
    print(f"{calls} cases over {len(operations)} operations: {answered}")
    assert calls >= len(operations)
    assert answered.get(200, 0) + answered.get(201, 0) >= 10, answered  # the schemas of real answers were checked


def test_fuzz_without_a_key_is_refused_everywhere_it_is_needed(server):
    operations = [op for op in _operations(server) if op.path not in PUBLIC]
    answered: dict[int, int] = {}
    with requests.Session() as session:

        def call(case):
            # No key: schemathesis sends none, or one it makes up from the declared bearer scheme.
            # The key is checked before any parameter, so even a malformed request answers 401.
            response = case.call_and_validate(base_url=server.url, session=session, checks=CHECKS, timeout=30)
            status = response.status_code
            answered[status] = answered.get(status, 0) + 1
            # 404: a generated path that matches no route at all; 413: refused before routing;
            # 403: a made-up signed link.
            allowed = (401, 403, 404) if _by_link(case.operation.definition.raw) else (401, 404, 413)
            assert status in allowed, (case.method, case.formatted_path, status, response.text[:300])
            if status == 401:
                assert response.json()["code"] == "unauthorized"
                assert response.headers["www-authenticate"] == ["Bearer"]

        calls = _fuzz(operations, (GenerationMode.POSITIVE, GenerationMode.NEGATIVE), call)
    print(f"{calls} cases over {len(operations)} operations: {answered}")
    assert calls >= len(operations)
    assert answered.get(401, 0) >= len(operations), answered


# -- what fuzzing found: each a 422 with a stable code, on a connection that stays usable -----------------

JSON = {"Content-Type": "application/json"}


def _same_connection_still_serves(client: httpx.Client, bad: httpx.Response) -> None:
    assert bad.headers.get("connection", "").lower() != "close"
    follow_up = client.get("/tunes", params={"limit": 1})
    assert follow_up.status_code == 200
    first, second = (r.extensions["network_stream"].get_extra_info("client_addr") for r in (bad, follow_up))
    assert first == second, "the server dropped the connection after the bad request"


def _refused(server, alice, method: str, path: str, code: str, **kwargs) -> dict:
    with server.client(alice["key"]) as client:
        response = client.request(method, path, **kwargs)
        assert response.status_code == 422, response.text
        error = response.json()
        assert error["code"] == code, error
        _same_connection_still_serves(client, response)
        return error


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_json_nested_deep(server, alice, depth):
    body = '{"prompt": ' + "[" * depth + "]" * depth + "}"
    _refused(server, alice, "POST", "/tunes/999/prompts", "body_too_deep", content=body, headers=JSON)


def test_json_nested_deeper_than_our_bodies_but_within_the_parser(server, alice):
    body = '{"prompt": {"text": "a", "callback": ' + "[" * 50 + "]" * 50 + "}}"
    _refused(server, alice, "POST", "/tunes/999/prompts", "body_too_deep", content=body, headers=JSON)


def test_form_field_nested_deep(server, alice):
    key = "prompt[text]" + "[x]" * 2000
    _refused(server, alice, "POST", "/tunes/999/prompts", "body_too_deep", data={key: "a"})


@pytest.mark.parametrize("digits", [5000, 100])
def test_json_integer_too_long(server, alice, digits):
    body = '{"prompt": {"text": "a", "seed": ' + "9" * digits + "}}"
    error = _refused(server, alice, "POST", "/tunes/999/prompts", "number_too_long", content=body, headers=JSON)
    assert len(error["message"]) < 300


def test_json_nan_is_not_json(server, alice):
    body = '{"prompt": {"text": "a", "cfg_scale": NaN}}'
    _refused(server, alice, "POST", "/tunes/999/prompts", "invalid_body", content=body, headers=JSON)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/tunes/999/prompts", '{"prompt": {"text": "a \\ud800 b"}}', "prompt[text]"),
        ("/tunes/999/prompts", '{"prompt": {"text": "a", "negative_prompt": "\\udfff"}}', "prompt[negative_prompt]"),
        ("/tunes/999/prompts", '{"prompt": {"text": "a", "scheduler": "\\ud800"}}', "prompt[scheduler]"),
        ("/tunes/999/prompts", '{"prompt": {"text": "a", "callback": "https://x\\ud800.example/"}}', "prompt[callback]"),
        ("/tunes/999/prompts", '{"prompt": {"text": "a", "\\ud800": 1}}', "prompt[\\ud800]"),
        ("/tunes", '{"tune": {"title": "\\ud800", "name": "man"}}', "tune[title]"),
        ("/faces/check", '{"image": ["\\ud800"]}', "image[0]"),
    ],
)
def test_json_lone_surrogate_in_any_text(server, alice, path, body, field):
    error = _refused(server, alice, "POST", path, "invalid_unicode", content=body, headers=JSON)
    assert error["field"] == field


def test_json_surrogate_pair_is_fine(server, alice):
    with server.client(alice["key"]) as client:
        body = '{"prompt": {"text": "a \\ud83d\\ude00", "steps": 0}}'
        response = client.post("/tunes/999/prompts", content=body, headers=JSON)
        # Read past the text: the pair is one emoji; steps=0 stops it before the queue.
        assert response.status_code == 422 and response.json()["field"] == "prompt[steps]"


def test_json_utf8_encoded_surrogate_bytes(server, alice):
    # json.loads(bytes) would decode these with "surrogatepass" into a lone surrogate.
    body = b'{"prompt": {"text": "a\xed\xa0\x80"}}'
    _refused(server, alice, "POST", "/tunes/999/prompts", "invalid_unicode", content=body, headers=JSON)


def test_form_invalid_utf8_is_no_server_error(server, alice):
    # Starlette turns it into U+FFFD (urlencoded) or latin-1 (multipart), never a surrogate.
    with server.client(alice["key"]) as client:
        for content, kind in (
            (b"prompt[text]=a%ED%A0%80&prompt[steps]=0", "application/x-www-form-urlencoded"),
            (
                b'--b\r\nContent-Disposition: form-data; name="prompt[text]"\r\n\r\na\xed\xa0\x80\r\n'
                b'--b\r\nContent-Disposition: form-data; name="prompt[steps]"\r\n\r\n0\r\n--b--\r\n',
                "multipart/form-data; boundary=b",
            ),
        ):
            response = client.post("/tunes/999/prompts", content=content, headers={"Content-Type": kind})
            assert response.status_code == 422 and response.json()["field"] == "prompt[steps]", response.text
            _same_connection_still_serves(client, response)


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("<faceid:9223372036854775808:1>", "unknown_tune"),  # past 64 bits: the driver overflowed
        ("<faceid:9223372036854775807:1>", "unknown_tune"),
        ("<faceid:2147483648>", "unknown_tune"),
        ("<faceid:0_1>", "malformed_faceid_token"),  # int() read it as tune 1
        ("<faceid:1_0:1>", "malformed_faceid_token"),
        ("<faceid:１>", "malformed_faceid_token"),
        ("<faceid:1:１>", "malformed_faceid_token"),  # a full-width weight was read as 1.0
        ("<faceid:1:1_0>", "malformed_faceid_token"),
        ("<faceid:1:²>", "malformed_faceid_token"),
        ("<faceid:1:1e0>", "malformed_faceid_token"),
    ],
)
def test_faceid_token_numbers_are_plain_decimals(server, alice, token, code):
    error = _refused(server, alice, "POST", "/tunes/999/prompts", code, json={"prompt": {"text": f"portrait {token}"}})
    assert error["field"] == "prompt[text]"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("steps", "1_0"),  # was read as 10
        ("steps", "１"),  # full-width: was read as 1
        ("steps", "²"),
        ("num_images", "1_0"),
        ("seed", "9" * 5000),
        ("cfg_scale", "1_0"),
        ("cfg_scale", "1e1"),
        ("w", "５１２"),
    ],
)
def test_option_numbers_are_plain_decimals(server, alice, field, value):
    form = {"prompt[text]": "a", f"prompt[{field}]": value}
    if field == "w":
        form["prompt[h]"] = "512"
    error = _refused(server, alice, "POST", "/tunes/999/prompts", "invalid_field", data=form)
    assert error["field"] == f"prompt[{field}]"


@pytest.mark.parametrize(
    "path",
    ["/tunes/0_1", "/tunes/１", "/tunes/²", "/tunes/1.0", "/prompts/0_1", "/tunes/999/prompts/0_1", "/gallery/tunes/99_9",
     "/tunes?limit=1_0", "/tunes?limit=１", "/tunes?offset=0_0", "/prompts?before_id=1_0", "/prompts/1/images/0_0.png"],
)
def test_path_and_query_numbers_are_plain_decimals(server, alice, path):
    error = _refused(server, alice, "GET", path, "invalid_request")
    assert "plain whole number" in error["message"]


@pytest.mark.parametrize("index", ["²", "１", "9" * 5000])
def test_form_list_index_is_a_plain_decimal(server, alice, photo_files, index):
    photo = photo_files["1.jpg"]
    files = [(f"tune[images][{index}]", (photo.name, photo.read_bytes(), "image/jpeg"))]
    with server.client(alice["key"]) as client:
        fields = {"tune[title]": f"index {ord(index[0])} {len(index)}", "tune[name]": "man"}
        response = client.post("/tunes", data=fields, files=files)
        assert response.status_code == 422, response.text
        _same_connection_still_serves(client, response)


def test_base_tune_id_and_face_index_digits_are_ascii(server, alice, photo_files):
    photo = photo_files["1.jpg"]
    with server.client(alice["key"]) as client:
        response = client.post(
            "/tunes",
            data={"tune[title]": "sup", "tune[name]": "man", "tune[base_tune_id]": "²"},
            files=[("tune[images][]", (photo.name, photo.read_bytes(), "image/jpeg"))],
        )
        assert response.status_code == 422 and response.json()["code"] == "unknown_base_model", response.text
        _same_connection_still_serves(client, response)
        image = {"image": (photo.name, photo.read_bytes(), "image/jpeg")}
        response = client.post("/faces/check", data={"index": "²"}, files=image)
        assert response.status_code == 422 and response.json()["field"] == "index", response.text
        _same_connection_still_serves(client, response)
