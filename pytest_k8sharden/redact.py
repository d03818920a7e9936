"""Redaction applied to everything before it is stored: credentials and Secret values never survive."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[REDACTED]"

_SENSITIVE_KEYS = frozenset(
    {
        "authorization",
        "proxyauthorization",
        "cookie",
        "setcookie",
        "xauthtoken",
        "xawsec2metadatatoken",
        "token",
        "accesstoken",
        "idtoken",
        "refreshtoken",
        "bearertoken",
        "apikey",
        "password",
        "clientkey",
        "clientkeydata",
        "privatekey",
        "secretaccesskey",
        "sessiontoken",
    }
)
"""Keys (lower case, without '-', '_' and spaces) whose values are credentials wherever they appear."""

_SECRET_VALUE_KEYS = frozenset({"data", "stringdata"})

_PEM_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.DOTALL
)
_AUTH_SCHEME = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_BASE64_PEM = re.compile(r"LS0tLS1CRUdJTi[A-Za-z0-9+/]+={0,2}")
_SECRET_DATA_KEY = re.compile(r'(?P<quote>\\*")(?P<key>data|stringData)(?P=quote)\s*:\s*\{')
"""A ``"data": {`` or ``"stringData": {`` key at any JSON escape level: plain, or inside a JSON string
(``\\"stringData\\": {`` in a ``last-applied-configuration`` annotation), or inside one nested deeper."""


def _normal(key: str) -> str:
    return re.sub(r"[-_\s]", "", key).lower()


def _is_private_key_blob(blob: str) -> bool:
    head = blob[:96]
    head = head[: len(head) - len(head) % 4]
    try:
        decoded = base64.b64decode(head, validate=False)
    except (binascii.Error, ValueError):
        return False
    return b"PRIVATE KEY" in decoded


def _redact_base64_pem(match: re.Match[str]) -> str:
    return "[REDACTED PRIVATE KEY]" if _is_private_key_blob(match.group(0)) else match.group(0)


def _scrub(text: str) -> str:
    text = _PEM_PRIVATE_KEY.sub("[REDACTED PRIVATE KEY]", text)
    text = _BASE64_PEM.sub(_redact_base64_pem, text)
    text = _JWT.sub("[REDACTED JWT]", text)
    text = _AUTH_SCHEME.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _scrub_data_objects(text)


def _object_end(text: str, start: int, quote_run: int) -> int:
    """Where the object opening at ``text[start]`` closes (after its ``}``), or the end of a cut-off text.

    The object is JSON escaped ``quote_run`` backslashes deep (0 plain, 1 inside one JSON string, 3 inside
    two ...): at that depth a quote preceded by ``r`` backslashes opens or closes a string exactly when
    ``r % (2 * (quote_run + 1)) == quote_run``; any other quote is part of a value. Braces count only
    outside strings, so a value such as ``"a}b"`` does not end the object early.
    """
    depth, in_string, backslashes = 0, False, 0
    period = 2 * (quote_run + 1)
    for index in range(start, len(text)):
        char = text[index]
        if char == "\\":
            backslashes += 1
            continue
        if char == '"' and backslashes % period == quote_run:
            in_string = not in_string
        elif not in_string and char == "{":
            depth += 1
        elif not in_string and char == "}":
            depth -= 1
            if depth == 0:
                return index + 1
        backslashes = 0
    return len(text)


def _scrub_data_objects(text: str) -> str:
    """Replace the object of every ``data``/``stringData`` key in text that is not one whole JSON document
    (a cut-off body, a log line, an escaped annotation): whose kind it belongs to cannot be known there, so
    every such object is taken for a Secret's values. A cut-off object is replaced to the end of the text."""
    pieces, position = [], 0
    while match := _SECRET_DATA_KEY.search(text, position):
        quote = match["quote"]
        end = _object_end(text, match.end() - 1, len(quote) - 1)
        pieces.append(
            f"{text[position : match.start()]}{quote}{match['key']}{quote}: {quote}{REDACTED}{quote}"
        )
        position = end
    return "".join(pieces) + text[position:]


def redact_text(text: str) -> str:
    """Redact a string; a JSON document inside it is redacted structurally (Secret data, credential keys)."""
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            pass
        else:
            return json.dumps(redact(parsed), ensure_ascii=False)
    return _scrub(text)


def _redact_secret(secret: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in secret.items():
        if _normal(str(key)) in _SECRET_VALUE_KEYS and isinstance(value, Mapping):
            out[str(key)] = dict.fromkeys(map(str, value), REDACTED)
        else:
            out[str(key)] = redact(value)
    return out


def _redact_mapping(mapping: Mapping[Any, Any]) -> dict[str, Any]:
    kind = mapping.get("kind")
    if kind == "Secret":
        return _redact_secret(mapping)
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        name = str(key)
        if _normal(name) in _SENSITIVE_KEYS and value not in (None, ""):
            out[name] = REDACTED
        elif kind == "SecretList" and name == "items" and isinstance(value, list):
            out[name] = [
                _redact_secret(item) if isinstance(item, Mapping) else redact(item) for item in value
            ]
        else:
            out[name] = redact(value)
    return out


def _redact_sequence(items: list[Any] | tuple[Any, ...]) -> list[Any]:
    if len(items) == 2 and isinstance(items[0], str) and _normal(items[0]) in _SENSITIVE_KEYS:
        return [items[0], REDACTED]  # a (header, value) pair
    return [redact(item) for item in items]


def redact(value: Any) -> Any:
    """A JSON-compatible copy of `value` with credentials, private keys and Secret values replaced."""
    if isinstance(value, Mapping):
        return _redact_mapping(value)
    if isinstance(value, list | tuple):
        return _redact_sequence(value)
    if isinstance(value, bytes | bytearray):
        return redact_text(bytes(value).decode("utf-8", "replace"))
    if isinstance(value, str):
        return redact_text(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact_text(str(value))
