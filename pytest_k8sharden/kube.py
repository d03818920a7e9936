"""The one place Kubernetes API clients are built: timeouts, logged retries, a QPS cap, our own errors."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeVar, final
from urllib.parse import urlsplit

import tenacity
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.client.rest import RESTResponse
from kubernetes.config.config_exception import ConfigException
from urllib3.exceptions import HTTPError as Urllib3Error
from websocket import WebSocketBadStatusException

from pytest_k8sharden import __version__, credentials
from pytest_k8sharden.kubeerrors import (
    MESSAGE_LIMIT,
    KubeApiError,
    KubeConfigError,
    KubeConflict,
    KubeError,
    KubeForbidden,
    KubeNotFound,
    KubeTLSError,
    KubeUnauthorized,
    KubeUnreachable,
    api_error,
    parse_retry_after,
    status_message,
    translate_transport_error,
)
from pytest_k8sharden.redact import redact_text

if TYPE_CHECKING:
    from pytest_k8sharden.access import ClusterAccess

log = logging.getLogger(__name__)

__all__ = [
    "USER_AGENT",
    "Identity",
    "Kube",
    "KubeApiError",
    "KubeConfigError",
    "KubeConflict",
    "KubeError",
    "KubeForbidden",
    "KubeNotFound",
    "KubeSettings",
    "KubeTLSError",
    "KubeUnauthorized",
    "KubeUnreachable",
    "RateLimiter",
    "connect",
    "load_configuration",
    "parse_retry_after",
    "retry_wait",
    "status_message",
]

USER_AGENT: Final = f"pytest-k8sharden/{__version__}"
"""The User-Agent of the scanner's REST requests, to tell them apart in audit logs (exec streams send none:
the client's websocket forwards no User-Agent)."""
_ApiT = TypeVar("_ApiT")
_T = TypeVar("_T")


@final
@dataclass(frozen=True)
class KubeSettings:
    """How API requests are sent."""

    connect_timeout: float = 5.0
    """Seconds to establish a connection."""
    read_timeout: float = 30.0
    """Seconds to wait for a response."""
    qps: float = 20.0
    """Sustained requests per second, client side (token bucket)."""
    burst: int = 40
    """Requests allowed at once before the QPS cap applies."""
    attempts: int = 4
    """Tries per request for 429, 5xx and connection errors."""
    backoff: float = 0.5
    """First wait between tries in seconds, doubled after every try."""
    max_backoff: float = 8.0
    """Longest wait between tries in seconds (Retry-After is capped at max_retry_after)."""
    max_retry_after: float = 30.0
    """Longest Retry-After honoured, in seconds."""


@final
@dataclass(frozen=True)
class Identity:
    """Who the API server says the scanner is (SelfSubjectReview)."""

    username: str
    groups: tuple[str, ...] = ()

    def describe(self) -> str:
        """The username and its groups, for reports."""
        return f"{self.username} (groups: {', '.join(self.groups)})" if self.groups else self.username


def retry_wait(settings: KubeSettings, attempt: int, error: BaseException | None) -> float:
    """Seconds to wait after failed try number `attempt`: Retry-After when given, else exponential."""
    if isinstance(error, KubeApiError) and error.retry_after is not None:
        return min(error.retry_after, settings.max_retry_after)
    return float(min(settings.backoff * 2 ** (attempt - 1), settings.max_backoff))


@final
class RateLimiter:
    """Token bucket: `qps` per second sustained, `burst` at once. Thread-safe."""

    def __init__(self, qps: float, burst: int) -> None:
        self._qps = qps
        self._burst = float(max(1, burst))
        self._tokens = self._burst
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping until it is available; returns the seconds slept."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._qps)
            self._stamp = now
            self._tokens -= 1.0
            wait = -self._tokens / self._qps if self._tokens < 0 else 0.0
        if wait:
            time.sleep(wait)
        return wait


@final
class _Gate:
    """Wraps every API call: QPS cap, timeout, retries with each attempt logged, error translation."""

    def __init__(self, server: str, settings: KubeSettings) -> None:
        self.server = server
        self.settings = settings
        self.limiter = RateLimiter(settings.qps, settings.burst)

    def send(self, method: str, url: str, timeout: Any, call: Callable[[Any], RESTResponse]) -> RESTResponse:
        """One REST request: ``call(timeout)``, its non-2xx answers raised as our errors."""
        path = urlsplit(url).path
        timeout = timeout or (self.settings.connect_timeout, self.settings.read_timeout)
        return self.run(method, path, lambda: _checked(method, path, call(timeout)))

    def run(self, method: str, path: str, call: Callable[[], _T]) -> _T:
        """``call()`` under the QPS cap, retried with logged attempts, its failures as our errors."""
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.settings.attempts),
            wait=lambda state: retry_wait(self.settings, state.attempt_number, _outcome_error(state)),
            retry=tenacity.retry_if_exception(lambda exc: isinstance(exc, KubeError) and exc.retryable),
            before_sleep=lambda state: log.warning(
                "%s %s: attempt %d/%d failed: %s; retrying in %.1fs",
                method,
                path,
                state.attempt_number,
                self.settings.attempts,
                _outcome_error(state),
                state.next_action.sleep if state.next_action else 0.0,
            ),
            reraise=True,
        )
        result: _T = retrying(self._attempt, method, path, call)
        return result

    def _attempt(self, method: str, path: str, call: Callable[[], _T]) -> _T:
        self.limiter.acquire()
        log.debug("%s %s", method, path)
        try:
            return call()
        except ApiException as exc:
            if exc.status:
                raise api_error(method, path, exc.status, exc.reason or "", exc.body, None) from None
            refused = _handshake_refusal(exc)
            if refused is not None:
                status, reason, body = refused.status_code, refused.status_message or "", refused.resp_body
                retry_after = (refused.resp_headers or {}).get("retry-after")
                raise api_error(method, path, status, reason, body, retry_after) from None
            # the exec websocket's failure, wrapped with status 0: the failure itself names the problem
            raise translate_transport_error(exc.__context__ or exc, self.server) from None
        except (OSError, Urllib3Error) as exc:
            raise translate_transport_error(exc, self.server) from None


def _checked(method: str, path: str, response: RESTResponse) -> RESTResponse:
    if not 200 <= response.status <= 299:
        body = response.read()
        raise api_error(
            method, path, response.status, response.reason or "", body, response.getheader("Retry-After")
        )
    return response


def _handshake_refusal(exc: ApiException) -> WebSocketBadStatusException | None:
    """The HTTP answer that refused a websocket upgrade (exec), which the client hides in the context."""
    cause: BaseException | None = exc.__context__
    while cause is not None and not isinstance(cause, WebSocketBadStatusException):
        cause = cause.__context__
    return cause


def _outcome_error(state: tenacity.RetryCallState) -> BaseException | None:
    return state.outcome.exception() if state.outcome else None


class _GatedApiClient(client.ApiClient):
    """ApiClient whose every call goes through a _Gate."""

    def __init__(self, configuration: client.Configuration, gate: _Gate) -> None:
        super().__init__(configuration)
        self._gate = gate
        self.user_agent = USER_AGENT

    def call_api(
        self,
        method: str,
        url: str,
        header_params: Any = None,
        body: Any = None,
        post_params: Any = None,
        _request_timeout: Any = None,
    ) -> RESTResponse:
        parent = super().call_api
        return self._gate.send(
            method,
            url,
            _request_timeout,
            lambda timeout: parent(method, url, header_params, body, post_params, timeout),
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return redact_text(text[0])[:MESSAGE_LIMIT] if text else type(exc).__name__


def _kubeconfig_contexts(path: Any) -> tuple[list[str], str | None]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KubeConfigError(f"kubeconfig {path} cannot be read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise KubeConfigError(f"kubeconfig {path} is malformed: {_first_line(exc)}") from None
    if not isinstance(data, dict) or not isinstance(data.get("contexts"), list):
        raise KubeConfigError(f"kubeconfig {path} is malformed: it has no list of contexts")
    names = [str(c["name"]) for c in data["contexts"] if isinstance(c, dict) and "name" in c]
    current = data.get("current-context")
    return names, str(current) if current else None


def load_configuration(access: ClusterAccess) -> client.Configuration:
    """A client Configuration for `access`, with clear KubeConfigError messages for every bad kubeconfig."""
    configuration = client.Configuration()
    if access.kubeconfig is None:
        try:
            config.load_incluster_config(client_configuration=configuration)
        except ConfigException as exc:
            raise KubeConfigError(
                f"no kubeconfig given and no in-cluster configuration: {_first_line(exc)}"
            ) from None
    else:
        path = access.kubeconfig
        if not path.is_file():
            raise KubeConfigError(f"kubeconfig not found: {path}")
        names, current = _kubeconfig_contexts(path)
        context = access.context or current
        known = ", ".join(names) or "none"
        if not context:
            raise KubeConfigError(
                f"kubeconfig {path} sets no current-context; choose one with --kube-context ({known})"
            )
        if context not in names:
            raise KubeConfigError(f"context {context!r} not found in kubeconfig {path} (known: {known})")
        with credentials.private_directory() as directory:
            try:
                config.load_kube_config(
                    config_file=str(path),
                    context=context,
                    client_configuration=configuration,
                    persist_config=False,
                    temp_file_path=str(directory),
                )
            except (ConfigException, ValueError, TypeError, KeyError, AttributeError) as exc:
                raise KubeConfigError(f"kubeconfig {path} is malformed: {_first_line(exc)}") from None
            credentials.keep_in_memory(configuration, directory)
    configuration.retries = False  # retries are ours (tenacity), not urllib3's
    return configuration


@final
class Kube:
    """Typed Kubernetes API clients for one cluster, all sharing one gate (timeouts, retries, QPS cap).

    Use the attributes (`kube.core.list_node()`, `kube.rbac`, ...) or `kube.api(client.BatchV1Api)`;
    errors are KubeError subclasses (KubeForbidden, KubeNotFound ...), never raw ApiException.
    """

    def __init__(self, configuration: client.Configuration, settings: KubeSettings | None = None) -> None:
        self.settings = settings or KubeSettings()
        self.configuration = configuration
        self.server: str = configuration.host
        self.api_client = _GatedApiClient(configuration, _Gate(self.server, self.settings))
        self.core = self.api(client.CoreV1Api)
        self.apps = self.api(client.AppsV1Api)
        self.rbac = self.api(client.RbacAuthorizationV1Api)
        self.networking = self.api(client.NetworkingV1Api)
        self.authentication = self.api(client.AuthenticationV1Api)
        self.authorization = self.api(client.AuthorizationV1Api)
        self.custom = self.api(client.CustomObjectsApi)
        self.version = self.api(client.VersionApi)

    def api(self, api_class: Callable[[Any], _ApiT]) -> _ApiT:
        """An instance of any kubernetes.client API class that sends through this client."""
        return api_class(self.api_client)

    def isolated(self, api_class: Callable[[Any], _ApiT]) -> _ApiT:
        """An API instance on an ApiClient of its own (same server, credentials and gate).

        For kubernetes.stream.stream(), which swaps its client's request function during the call:
        on a shared client, concurrent exec streams would race.
        """
        return api_class(_GatedApiClient(self.configuration, self.api_client._gate))

    def send(self, method: str, path: str, request: Callable[[], _T]) -> _T:
        """Send what the typed clients cannot (``kubernetes.stream.stream``, which bypasses their gate)
        through the gate: QPS cap, logged retries, our errors. ``request`` must be safe to repeat."""
        return self.api_client._gate.run(method, path, request)

    def with_token(self, token: str | None) -> Kube:
        """The same server and trust, authenticating with `token` only (None: anonymous)."""
        configuration = client.Configuration(host=self.server)
        for name in ("ssl_ca_cert", "verify_ssl", "tls_server_name", "assert_hostname", "proxy", "no_proxy"):
            setattr(configuration, name, getattr(self.configuration, name))
        if token is not None:
            configuration.api_key = {"authorization": f"Bearer {token}"}
        configuration.retries = False
        return Kube(configuration, self.settings)

    def whoami(self) -> Identity:
        """The scanner's identity from a SelfSubjectReview (authentication.k8s.io/v1)."""
        try:
            review = self.authentication.create_self_subject_review(body=client.V1SelfSubjectReview())
        except (KubeNotFound, KubeForbidden) as exc:
            return Identity(f"unknown (SelfSubjectReview refused: {exc.status} {exc.reason})")
        info = review.status.user_info if review.status else None
        if info is None or not info.username:
            return Identity("unknown (empty SelfSubjectReview)")
        return Identity(str(info.username), tuple(str(group) for group in info.groups or ()))

    def plain(self, obj: object) -> Any:
        """An API object (or a list of them) as plain JSON data, under the API's own field names."""
        return self.api_client.sanitize_for_serialization(obj)

    def server_version(self) -> str:
        """The API server's gitVersion, e.g. v1.36.3."""
        return str(self.version.get_code().git_version)

    def close(self) -> None:
        """Release connections."""
        self.api_client.close()


def connect(access: ClusterAccess, settings: KubeSettings | None = None) -> Kube:
    """Build the API clients for `access` (no request is sent yet)."""
    return Kube(load_configuration(access), settings)
