"""An SDC consumer for one pump, addressed by URL (no discovery): ``pumpctl sdc probe`` and the tests.

Theory of operation
-------------------
``PumpConsumer(url, tls)`` connects with mutual TLS only (``force_ssl_connect``: never a
plain-text fallback), reads the MDIB, subscribes to every episodic report and keeps a
``ConsumerMdib`` current. ``summary`` reads the pump's state, metrics and present alarms from
that MDIB by the handles of ``controller.sdc.mdib``; ``set_value`` and ``activate`` call an
operation and wait for its final OperationInvokedReport (``Result``: FINISHED, or FAILED with
the provider's reason).

Rules
1. Every wait is bounded (``timeout_s``); a timeout is reported, not hidden.
2. ``close`` unsubscribes and stops the consumer's own HTTPS notification server.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sdc11073.certloader import SSLContextContainer
from sdc11073.consumer.consumerimpl import SdcConsumer
from sdc11073.definitions_sdc import SdcV1Definitions
from sdc11073.mdib import ConsumerMdib
from sdc11073.xml_types.actions import periodic_actions
from sdc11073.xml_types.msg_types import InvocationState

from controller.sdc.mdib import METRICS, alerts, condition_handle, signal_handle
from controller.sdc.tls import Contexts


@dataclass(frozen=True, slots=True)
class Result:
    state: str  # Fin | Fail | ...
    error: str | None
    message: str

    @property
    def finished(self) -> bool:
        return self.state == InvocationState.FINISHED.value


class PumpConsumer:
    def __init__(self, url: str, tls: Contexts, timeout_s: float = 10.0) -> None:
        self.timeout_s = timeout_s
        self.client = SdcConsumer(url, SdcV1Definitions, SSLContextContainer(tls.client, tls.server),
                                  force_ssl_connect=True, socket_timeout=int(timeout_s))
        self.client.start_all(not_subscribed_actions=periodic_actions)
        try:
            self.mdib = ConsumerMdib(self.client)
            self.mdib.init_mdib()  # type: ignore[no-untyped-call]
        except BaseException:
            self.client.stop_all(unsubscribe=False)
            raise

    def close(self) -> None:
        self.client.stop_all()

    def __enter__(self) -> PumpConsumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- reading -------------------------------------------------------------------------

    def state(self, handle: str) -> Any:
        entity: Any = self.mdib.entities.by_handle(handle)
        return entity.state

    def value(self, handle: str) -> Decimal | str | None:
        mv = self.state(handle).MetricValue
        return None if mv is None else mv.Value

    def present_alarms(self) -> list[tuple[str, str, str]]:
        """(alarm id, priority, signal presence) of every alarm condition present now (the core's and the shell's)."""
        out = []
        for spec in alerts():
            if self.state(condition_handle(spec.id)).Presence:
                sig = self.state(signal_handle(spec.id))
                out.append((spec.id, spec.priority.name.lower(), str(sig.Presence)))
        return out

    def summary(self) -> str:
        lines = [f"state: {self.value('m.state')}"]
        for m in METRICS:
            if m.handle == "m.state":
                continue
            v = self.value(m.handle)
            unit = {"MDC_DIM_MILLI_L_PER_HR": " mL/h", "MDC_DIM_MILLI_L": " mL", "min": " min"}.get(m.unit_ref, "")
            lines.append(f"{m.text}: {'-' if v is None else f'{v}{unit}'}")
        alarms = self.present_alarms()
        lines.append("alarms: " + (", ".join(f"{a} ({p}, signal {s})" for a, p, s in alarms) if alarms else "none"))
        return "\n".join(lines)

    # --- commands ------------------------------------------------------------------------

    def _result(self, future: Any) -> Result:
        res = future.result(timeout=self.timeout_s)
        info = res.InvocationInfo
        msgs = [t.text for t in (info.InvocationErrorMessage or [])]
        err = None if info.InvocationError is None else str(info.InvocationError)
        return Result(str(info.InvocationState), err, "; ".join(str(m) for m in msgs))

    def set_value(self, handle: str, value: Decimal | int | str) -> Result:
        client: Any = self.client.set_service_client
        return self._result(client.set_numeric_value(handle, Decimal(str(value))))

    def activate(self, handle: str) -> Result:
        client: Any = self.client.set_service_client
        return self._result(client.activate(handle, arguments=None))
