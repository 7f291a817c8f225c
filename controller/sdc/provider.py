"""The SDC provider: ``sdc11073`` 3.0 around a ``Session``, mutual TLS, remote commands as core events.

Theory of operation
-------------------
``PumpProvider`` builds a ``ProviderMdib`` from ``controller.sdc.mdib`` and an ``SdcProvider``
with three pieces of our own, injected through sdc11073's component classes:

- the HTTPS server (``_PeerServer``): the TLS handshake runs in the connection's own thread
  (a slow or rogue client cannot stall the accept loop); a refused handshake (no
  certificate, unknown CA, self-signed) is logged (``tls_rejected``) and the connection is
  closed before any SOAP is read; an accepted one records the verified peer ``Identity`` in
  a thread-local for the requests of that connection;
- the SCO registry (``_Sco``): ``handle_operation_request`` runs in the connection's thread,
  reads that identity and queues the command on the session (``Session.remote``); the
  response says WAIT, and the outcome arrives as an OperationInvokedReport: FINISHED, or
  FAILED with ``InvocationError`` ``Oth`` and the refusal reason as the error message;
- the product (``_Product``): registers one operation per row of ``OPERATIONS`` and nothing
  else (the handlers only exist so sdc11073 lists them; ``_Sco`` never calls them).

Discovery: without ``discovery`` a stub answers the provider's address questions and sends
nothing; with it, ``WSDiscoverySingleAdapter`` on the named interface (multicast, only there).

``publish(view)`` writes what changed since the last view in one transaction per kind
(metrics, alerts), so reports carry only changes; the session calls it on its own thread.

Rules
1. sdc11073's private classes are subclassed here only; the version is pinned (3.0.x).
2. Nothing here calls the controller: every command goes through ``Session.remote``.
"""

from __future__ import annotations

import ssl
import threading
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from sdc11073.certloader import SSLContextContainer
from sdc11073.definitions_sdc import SdcV1Definitions
from sdc11073.httpserver.httpserverimpl import HttpServerThreadBase, _ThreadingHTTPServer
from sdc11073.mdib import ProviderMdib
from sdc11073.provider import SdcProvider
from sdc11073.provider.operations import ActivateOperation, ExecuteParameters, ExecuteResult, SetValueOperation
from sdc11073.provider.providerimpl import RoleProviderComponents, provider_components_async_factory
from sdc11073.provider.sco import ScoOperationsRegistry
from sdc11073.xml_types import pm_types
from sdc11073.xml_types.dpws_types import ThisDeviceType, ThisModelType
from sdc11073.xml_types.msg_types import InvocationError, InvocationState

from controller.sdc.mdib import condition_handle, mdib_xml, signal_handle
from controller.sdc.operations import OPERATIONS, SET_VALUE
from controller.sdc.roles import Identity
from controller.sdc.session import Outcome, Session
from controller.sdc.tls import Contexts
from controller.sdc.view import View, metric_values

HANDSHAKE_TIMEOUT_S = 10.0
_PEER = threading.local()


def current_peer() -> Identity | None:
    """The verified client identity of the connection this thread serves (None outside one)."""
    who: Identity | None = getattr(_PEER, "identity", None)
    return who


class _PeerServer(_ThreadingHTTPServer):
    def __init__(self, logger: Any, address: tuple[str, int], chunk_size: int, encodings: Any,
                 context: ssl.SSLContext, on_reject: Callable[[tuple[str, int], str], None]) -> None:
        self.allow_reuse_address = True
        super().__init__(logger, address, chunk_size, encodings)
        self._ctx, self._on_reject = context, on_reject

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(HANDSHAKE_TIMEOUT_S)
        try:
            tls = self._ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            self._on_reject(client_address, f"{type(exc).__name__}: {exc}")
            request.close()
            return
        tls.settimeout(None)
        _PEER.identity = Identity.from_peer(tls.getpeercert(), tls.getpeercert(binary_form=True))
        try:
            handler: Any = self.RequestHandlerClass
            handler(tls, client_address, self)
        finally:
            _PEER.identity = None
            self.shutdown_request(tls)


class _HttpServer(HttpServerThreadBase):
    """sdc11073's server thread with the handshake moved into the connection threads."""

    def __init__(self, address: str, port: int, context: ssl.SSLContext, logger: Any,
                 on_reject: Callable[[tuple[str, int], str], None]) -> None:
        super().__init__(address, None, ["gzip"], logger)
        self._port, self._ctx, self._on_reject = port, context, on_reject

    def run(self) -> None:
        self._stop_requested = False
        httpd: Any = _PeerServer(self.logger, (self._my_ipaddress, self._port), self.chunk_size,
                                 self.supported_encodings, self._ctx, self._on_reject)
        self.httpd = httpd
        self.base_url = f"https://{self._my_ipaddress}:{self.server_port}/"  # type: ignore[assignment]
        self.started_evt.set()
        httpd.serve_forever()


class _NoDiscovery:
    """What SdcProvider asks of discovery, without sending anything (no multicast)."""

    def __init__(self, address: str) -> None:
        self.active_address = address

    def publish_service(self, epr: str, types: list[Any], scopes: Any, x_addrs: list[str]) -> None:
        del epr, types, scopes, x_addrs

    def clear_service(self, epr: str) -> None:
        del epr


def _components(session: Session) -> tuple[Any, RoleProviderComponents]:
    """sdc11073 component classes bound to ``session`` (classes, because sdc11073 deep-copies instances)."""

    class _Sco(ScoOperationsRegistry):
        def handle_operation_request(self, operation: Any, request: Any, operation_request: Any,
                                     transaction_id: int) -> tuple[Any, Any]:
            who = current_peer()
            value = getattr(operation_request, "RequestedNumericValue", None)

            def report(outcome: Outcome) -> None:
                state = InvocationState.FINISHED if outcome.accepted else InvocationState.FAILED
                self._set_service.notify_operation(
                    operation, transaction_id, state, self._mdib.mdib_version_group,
                    error=None if outcome.accepted else InvocationError.OTHER,
                    error_message=None if outcome.accepted else outcome.reason)

            session.remote(operation.handle, value, who, report)
            return InvocationState.WAIT, self._mdib.mdib_version_group

        def start_worker(self) -> None:  # no worker thread: the session's thread runs every command
            pass

        def stop_worker(self) -> None:
            pass

    class _Product:
        def __init__(self, mdib: Any, sco: Any, log_prefix: str | None = None) -> None:
            self._mdib, self._sco = mdib, sco

        def init_operations(self) -> None:
            for op in OPERATIONS:
                cls = SetValueOperation if op.sdc == SET_VALUE else ActivateOperation
                self._sco.register_operation(cls(op.handle, op.target, _never_called, delayed_processing=False))

        def make_operation_instance(self, descriptor: Any, getter: Any) -> None:
            del descriptor, getter

        def stop(self) -> None:
            pass

    components = provider_components_async_factory()
    components.sco_operations_registry_class = _Sco
    return components, RoleProviderComponents(role_provider_class=_Product)


def _never_called(params: ExecuteParameters) -> ExecuteResult:
    raise AssertionError(f"operation {params.operation_instance.handle} bypassed the session")  # pragma: no cover


class PumpProvider:
    def __init__(self, session: Session, tls: Contexts, address: str = "127.0.0.1", port: int = 0,
                 discovery_interface: str | None = None, epr: uuid.UUID | None = None) -> None:
        self.session = session
        self.mdib = ProviderMdib.from_string(mdib_xml().encode(), SdcV1Definitions)
        self._last: View | None = None
        self._discovery: Any = None
        if discovery_interface is not None:
            from sdc11073.wsdiscovery import WSDiscoverySingleAdapter

            self._discovery = WSDiscoverySingleAdapter(discovery_interface)
            wsd: Any = self._discovery
        else:
            wsd = _NoDiscovery(address)
        components, roles = _components(session)
        self.sdc = SdcProvider(
            wsd, ThisModelType(manufacturer="pumpctl (research software, not a medical device)",
                               model_name="pumpctl infusion pump controller", model_number="0.1"),
            ThisDeviceType(friendly_name="pumpctl pump", firmware_version="0.1", serial_number="sim-0001"),
            self.mdib, epr=epr or uuid.uuid4(), ssl_context_container=SSLContextContainer(tls.client, tls.server),
            components=components, role_provider_components=roles, max_subscription_duration=60)
        self._http = _HttpServer(wsd.active_address, port, tls.server, self.sdc._logger, self._rejected)
        # (control period, alarm id, present) as published, the newest 1000 (tests, diagnostics)
        self.alert_changes: deque[tuple[int, str, bool]] = deque(maxlen=1000)

    def _rejected(self, peer: tuple[str, int], error: str) -> None:
        self.session.note("tls_rejected", {"peer": f"{peer[0]}:{peer[1]}", "error": error})

    def start(self) -> None:
        if self._discovery is not None:
            self._discovery.start()
        self._http.start()
        if not self._http.started_evt.wait(timeout=30):
            raise RuntimeError("the HTTPS server did not start within 30 s")
        self.sdc.start_all(start_rtsample_loop=False, shared_http_server=self._http)
        if self._discovery is not None:
            self.sdc.publish()  # type: ignore[no-untyped-call]
        self.session.on_view = self.publish
        self.session.call(lambda: self.publish(self.session.view()))

    @property
    def url(self) -> str:
        return str(self.sdc.get_xaddrs()[0])

    def stop(self) -> None:
        self.session.on_view = None
        self.sdc.stop_all()
        self._http.stop()  # type: ignore[no-untyped-call]
        if self._discovery is not None:
            self._discovery.stop()

    # --- MDIB updates ------------------------------------------------------------------------

    def publish(self, v: View) -> None:
        last, self._last = self._last, v
        values = metric_values(v)
        old = {} if last is None else metric_values(last)
        changed = {h: x for h, x in values.items() if last is None or old.get(h) != x}
        mgr: Any
        if changed:
            with self.mdib.metric_state_transaction() as mgr:
                for handle, value in changed.items():
                    st = mgr.get_state(handle)
                    if value is None:
                        st.MetricValue = None
                        continue
                    if st.MetricValue is None:
                        st.mk_metric_value()
                    st.MetricValue.Value = value
                    st.MetricValue.MetricQuality.Validity = pm_types.MeasurementValidity.VALID
        before = {} if last is None else {a.id: a for a in last.alarms}
        alarms = [a for a in v.alarms if before.get(a.id) != a]
        if alarms:
            with self.mdib.alert_state_transaction() as mgr:
                for a in alarms:
                    self.alert_changes.append((v.period, a.id, a.present))
                    cond = mgr.get_state(condition_handle(a.id))
                    cond.Presence = a.present
                    sig = mgr.get_state(signal_handle(a.id))
                    sig.Presence = (pm_types.AlertSignalPresence.OFF if not a.active
                                    else pm_types.AlertSignalPresence.ON if a.present
                                    else pm_types.AlertSignalPresence.LATCH)
                    sig.ActivationState = (pm_types.AlertActivation.PAUSED if a.paused
                                           else pm_types.AlertActivation.ON)
                system = mgr.get_state("alerts")
                system.PresentTechnicalAlarmConditions = [condition_handle(a.id) for a in v.alarms if a.present]

