"""Redaction: credentials, private keys and Secret values never survive; everything else does."""

from __future__ import annotations

import base64
import json

import pytest
import trustme

from pytest_k8sharden.redact import REDACTED, redact, redact_text

JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6YTpiIn0.c2lnbmF0dXJlLXBhcnQ"
SECRET_VALUE = base64.b64encode(b"hunter2-planted-password").decode()


def _secret() -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "prod"},
        "type": "Opaque",
        "data": {"password": SECRET_VALUE},
        "stringData": {"user": "admin-plain"},
    }


def test_credential_headers_are_redacted_and_others_kept() -> None:
    headers = {"Authorization": f"Bearer {JWT}", "Cookie": "session=abc", "Accept": "application/json"}
    assert redact(headers) == {"Authorization": REDACTED, "Cookie": REDACTED, "Accept": "application/json"}
    assert redact([("authorization", "Basic dXNlcjpwYXNz"), ("Accept", "*/*")]) == [
        ["authorization", REDACTED],
        ["Accept", "*/*"],
    ]


def test_tokens_in_free_text() -> None:
    text = redact_text(f"curl -H 'Authorization: Bearer abc.def-ghi' https://x and token {JWT} end")
    assert "abc.def-ghi" not in text and JWT not in text
    assert text == "curl -H 'Authorization: Bearer [REDACTED]' https://x and token [REDACTED JWT] end"


def test_private_keys_in_pem_and_base64() -> None:
    cert = trustme.CA().issue_cert("example.test")
    key_pem = cert.private_key_pem.bytes().decode().strip()
    cert_pem = cert.cert_chain_pems[0].bytes().decode()
    assert redact_text(f"key:\n{key_pem}\nafter") == "key:\n[REDACTED PRIVATE KEY]\nafter"
    assert redact_text(key_pem[:80]) == "[REDACTED PRIVATE KEY]", "a cut-off key is still a key"
    key_b64 = base64.b64encode(key_pem.encode()).decode()
    cert_b64 = base64.b64encode(cert_pem.encode()).decode()
    assert redact_text(f"client-key-data: {key_b64}") == "client-key-data: [REDACTED PRIVATE KEY]"
    assert redact_text(f"certificate-data: {cert_b64}") == f"certificate-data: {cert_b64}", (
        "certificates are public"
    )


def test_kubeconfig_credentials() -> None:
    kubeconfig = {
        "users": [
            {
                "name": "a",
                "user": {"token": "t0k3n", "client-key-data": "LS0t", "client-certificate-data": "Y2VydA=="},
            },
            {"name": "b", "user": {"username": "admin", "password": "pw"}},
        ]
    }
    users = redact(kubeconfig)["users"]
    assert users[0]["user"] == {
        "token": REDACTED,
        "client-key-data": REDACTED,
        "client-certificate-data": "Y2VydA==",
    }
    assert users[1]["user"] == {"username": "admin", "password": REDACTED}


def test_secret_values_are_redacted_keys_kept() -> None:
    redacted = redact(_secret())
    assert redacted["data"] == {"password": REDACTED}
    assert redacted["stringData"] == {"user": REDACTED}
    assert redacted["metadata"] == {"name": "db", "namespace": "prod"}
    secret_list = {"kind": "SecretList", "items": [{k: v for k, v in _secret().items() if k != "kind"}]}
    assert redact(secret_list)["items"][0]["data"] == {"password": REDACTED}


def test_secret_in_a_json_body_and_in_a_cut_off_body() -> None:
    body = json.dumps(_secret())
    assert SECRET_VALUE not in redact_text(body)
    assert json.loads(redact_text(body))["metadata"]["name"] == "db"
    cut = body[: body.index(SECRET_VALUE) + 10]
    assert SECRET_VALUE[:10] not in redact_text(cut)


def test_secret_inside_last_applied_configuration() -> None:
    annotation = "kubectl.kubernetes.io/last-applied-configuration"
    obj = {**_secret(), "metadata": {"name": "db", "annotations": {annotation: json.dumps(_secret())}}}
    assert SECRET_VALUE not in json.dumps(redact(obj))
    config_map = {"kind": "ConfigMap", "data": {"mode": "strict"}}
    assert redact(config_map) == config_map, "ConfigMap data is not secret"


def test_cloud_metadata_credentials() -> None:
    body = json.dumps(
        {"Code": "Success", "AccessKeyId": "ASIAX", "SecretAccessKey": "wJalr", "Token": "IQoJb"}
    )
    assert json.loads(redact_text(body)) == {
        "Code": "Success",
        "AccessKeyId": "ASIAX",
        "SecretAccessKey": REDACTED,
        "Token": REDACTED,
    }


def test_scalars_bytes_and_idempotence() -> None:
    assert redact(401) == 401 and redact(None) is None and redact(True) is True
    assert redact(f"Bearer {JWT}".encode()) == "Bearer [REDACTED JWT]"
    once = redact({"headers": {"Authorization": "Bearer x"}, "body": json.dumps(_secret())})
    assert redact(once) == once


def _applied(secret: dict[str, object]) -> str:
    """A Secret as a SecretList response shows it after a client-side ``kubectl apply``: its manifest,
    stringData and all, in the last-applied-configuration annotation (kubectl sorts the keys)."""
    manifest = json.dumps({k: secret[k] for k in sorted(secret) if k != "data"}, separators=(",", ":"))
    item = {
        "metadata": {
            "name": "db",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": manifest},
        },
        "data": {"password": SECRET_VALUE},
    }
    return json.dumps({"kind": "SecretList", "items": [item]}, separators=(",", ":"))


PLAIN = "admin-plain"
"""The stringData value of _secret(): kubectl keeps it in plaintext in the annotation."""


@pytest.mark.parametrize(
    ("text", "leaks"),
    [
        pytest.param(
            _applied(_secret())[:300], (PLAIN,), id="cut-off body, escaped stringData in annotation"
        ),
        pytest.param(
            json.dumps({"log": _applied(_secret())[:300]}), (PLAIN,), id="the same escaped twice, whole JSON"
        ),
        pytest.param(
            f"request failed: {json.dumps(_applied(_secret()))[:400]}", (PLAIN,), id="escaped twice, cut off"
        ),
        pytest.param(
            '{"metadata":{"annotations":{"x":"{\\"apiVersion\\":\\"v1\\",\\"data\\":{\\"k\\":\\"c2VjcmV0LXRva2Vu',
            ("c2VjcmV0LXRva2Vu",),
            id="cut before the kind: no word Secret in the text",
        ),
        pytest.param(
            '{"kind":"Secret","stringData":{"password":"ab}cd-tail-of-it","user":"u2-plain"},"type":"Opa',
            ("cd-tail-of-it", "u2-plain"),
            id="a brace inside a value",
        ),
        pytest.param(
            '{"kind":"Secret","stringData":{"password":"quote\\"}still-secret","next":"n3-plain"}, "ty',
            ("still-secret", "n3-plain"),
            id="an escaped quote and brace inside a value",
        ),
    ],
)
def test_secret_values_in_escaped_or_cut_off_json_are_redacted(text: str, leaks: tuple[str, ...]) -> None:
    assert all(value in text for value in leaks), "nothing to leak: the case proves nothing"
    redacted = redact_text(text)
    for value in leaks:
        assert value not in redacted, redacted
    assert REDACTED in redacted


def test_what_follows_a_redacted_data_object_is_kept() -> None:
    text = '{"kind":"Secret","data":{"a":"YQ=="},"metadata":{"name":"kept-name"},"type":"Opaque"'
    assert redact_text(text) == (
        '{"kind":"Secret","data": "[REDACTED]","metadata":{"name":"kept-name"},"type":"Opaque"'
    )
    escaped = '"{\\"data\\":{\\"a\\":\\"YQ==\\"},\\"kind\\":\\"Secret\\"}" and more'
    assert redact_text(escaped) == '"{\\"data\\": \\"[REDACTED]\\",\\"kind\\":\\"Secret\\"}" and more'
