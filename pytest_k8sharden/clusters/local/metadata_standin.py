"""A cloud metadata stand-in on 169.254.169.254 inside the node namespace, handing out canary credentials.

It answers the credential paths of AWS (IMDSv1 and the IMDSv2 token PUT), GCP (Metadata-Flavor: Google)
and Azure (Metadata: true) the way the real services do, with a canary secret that the suites and the
redaction tests can look for. It only ever runs inside the node network namespace.

Run: ``python -m pytest_k8sharden.clusters.local.metadata_standin ADDRESS PORT CANARY``
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final

AWS_ROLE: Final = "k8sharden-node-role"
AWS_TOKEN: Final = "k8sharden-imdsv2-session-token"


def _routes(canary: str) -> dict[str, tuple[str, str]]:
    """GET path -> (required header "Name: value" or "", JSON/text body)."""
    aws_credentials = json.dumps(
        {"Code": "Success", "AccessKeyId": "ASIAK8SHARDENCANARY", "SecretAccessKey": canary, "Token": canary}
    )
    oauth = json.dumps({"access_token": canary, "expires_in": 3599, "token_type": "Bearer"})
    return {
        "/latest/meta-data/": ("", "iam/\ninstance-id\n"),
        "/latest/meta-data/iam/security-credentials/": ("", AWS_ROLE),
        f"/latest/meta-data/iam/security-credentials/{AWS_ROLE}": ("", aws_credentials),
        "/computeMetadata/v1/instance/service-accounts/default/token": ("Metadata-Flavor: Google", oauth),
        "/metadata/identity/oauth2/token": ("Metadata: true", oauth),
    }


def make_handler(canary: str) -> type[BaseHTTPRequestHandler]:
    """A request handler class answering the metadata paths with ``canary``."""
    routes = _routes(canary)

    class MetadataHandler(BaseHTTPRequestHandler):
        server_version = "k8sharden-metadata-standin"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path not in routes:
                self._answer(404, "not found")
                return
            header, body = routes[path]
            if header:
                name, value = header.split(": ", 1)
                if self.headers.get(name, "").lower() != value.lower():
                    self._answer(403, f"missing {name} header")
                    return
            self._answer(200, body)

        def do_PUT(self) -> None:
            if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                self._answer(200, AWS_TOKEN)
            else:
                self._answer(400, "bad request")

        def _answer(self, status: int, body: str) -> None:
            payload = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if body.startswith("{") else "text/plain")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    return MetadataHandler


def main(argv: list[str]) -> None:
    """Serve until killed."""
    address, port, canary = argv
    ThreadingHTTPServer((address, int(port)), make_handler(canary)).serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
