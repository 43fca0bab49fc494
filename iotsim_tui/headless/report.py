"""The final summary of a headless run, as text and as JSON, from the same figures.

What a load tool reports (emqtt-bench, HiveMQ Swarm): connections per second and the connect
time's percentiles, messages per second sent and received (over the whole run and over the
last few seconds), publish-to-delivery latency measured by the probe, errors by kind, outages,
and the ledger. The JSON carries the histograms themselves, so the summaries of several runs
(`--summary FILE` from each shard) can be added together later.
"""

from __future__ import annotations

from typing import Any

from iotsim_tui.engine import Summary
from iotsim_tui.engine.histogram import Histogram
from iotsim_tui.words import counted

INTERRUPTED = 130
"""The exit code of a run stopped by Ctrl-C (or SIGTERM) before its --duration: 128 + SIGINT,
as shells report it, so a script can tell it from a complete run."""
PERCENTILES = (50, 95, 99)
LAST_INTERVAL = 5.0
"""Seconds over which the "last interval" rates are measured (the engine's rate window)."""


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def _percentiles(histogram: Histogram) -> dict[str, float | None]:
    return {f"p{p}_ms": _ms(histogram.percentile(p)) for p in PERCENTILES}


def _per_second(count: int, seconds: float | None) -> float | None:
    return round(count / seconds, 3) if seconds else None


def summary_record(
    summary: Summary, network: str, *, interrupted: bool = False, seconds: float | None = None
) -> dict[str, Any]:
    """The final summary as a JSON-ready dict (`seconds`: how long the devices ran)."""
    ledger = summary.ledger
    rate = summary.connect_rate
    return {
        "type": "summary",
        "interrupted": interrupted,
        "network": network,
        "seconds": None if seconds is None else round(seconds, 3),
        "devices": summary.devices,
        "connected": summary.connected,
        "errors": summary.errors,
        "failed": summary.failed,
        "recovered": summary.recovered,
        "messages_out": summary.messages_out,
        "messages_in": summary.messages_in,
        "connections": {
            "devices": summary.first_connections,
            "accepted": summary.connections,
            "per_second": None if rate is None else round(rate, 3),
            "started_at": summary.started_at,
            "last_first_connect_at": summary.last_first_connect_at,
            "connect_time": {
                **_percentiles(summary.connect_time),
                "histogram": summary.connect_time.to_json(),
            },
        },
        "messages": {
            "sent": summary.messages_out,
            "received": summary.messages_in,
            "sent_per_second": _per_second(summary.messages_out, seconds),
            "received_per_second": _per_second(summary.messages_in, seconds),
            "last_interval": {
                "seconds": LAST_INTERVAL,
                "sent_per_second": round(summary.rate_out, 3),
                "received_per_second": round(summary.rate_in, 3),
            },
        },
        "latency": {
            "probe": summary.probe,
            "count": summary.latency.count,
            **_percentiles(summary.latency),
            "histogram": summary.latency.to_json(),
        },
        "errors_by_kind": dict(summary.errors_by_kind),
        "outages": {
            "devices": summary.offline_devices,
            "seconds": round(summary.offline_seconds, 3),
            "longest": [
                {"device": device, "seconds": round(offline, 3)}
                for device, offline in summary.outages
            ],
        },
        "ledger": {
            "accepted": ledger.accepted,
            "acknowledged": ledger.acknowledged,
            "queued": ledger.queued,
            "dropped": ledger.dropped,
            "drop_reasons": dict(ledger.drop_reasons),
        },
        "events_dropped": summary.events_dropped,
        "error_samples": list(summary.error_samples),
        "warnings": summary.warnings,
        "ok": summary.ok,
    }


def _duration(ms: float | None) -> str:
    if ms is None:
        return "-"
    if ms >= 1000:
        return f"{ms / 1000:.2f} s"
    return f"{ms:.1f} ms" if ms >= 1 else f"{ms:.3f} ms"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}/s"


def _percentile_text(figures: dict[str, Any]) -> str:
    return ", ".join(f"p{p} {_duration(figures[f'p{p}_ms'])}" for p in PERCENTILES)


def final_report(
    summary: Summary, network: str, seconds: float, *, interrupted: bool = False
) -> list[str]:
    """The lines of the final summary: the figures of `summary_record`, in words."""
    record = summary_record(summary, network, interrupted=interrupted, seconds=seconds)
    ledger = summary.ledger
    was = "was" if summary.connected == 1 else "were"
    failed = f"{summary.failed:,} reported errors"
    if summary.recovered:
        failed += f" ({summary.recovered:,} connected again)"
    lines = [
        f"{network}: {counted(summary.devices, 'device')} ran for {seconds:.1f} s; "
        f"{summary.connected:,} {was} connected when it stopped, {failed}",
    ]
    connections = record["connections"]
    if summary.connections:
        lines.append(
            f"connections: {counted(summary.first_connections, 'device')} connected at "
            f"{_rate(connections['per_second'])}, {summary.connections:,} accepted in all; "
            f"connect time {_percentile_text(connections['connect_time'])}"
        )
    messages = record["messages"]
    last = messages["last_interval"]
    lines.append(
        f"messages: {summary.messages_out:,} published ({_rate(messages['sent_per_second'])}, "
        f"last {LAST_INTERVAL:g} s {_rate(last['sent_per_second'])}), "
        f"{summary.messages_in:,} received ({_rate(messages['received_per_second'])}, "
        f"last {LAST_INTERVAL:g} s {_rate(last['received_per_second'])})"
    )
    latency = record["latency"]
    if summary.latency.count:
        lines.append(
            f"latency, publish to delivery: {_percentile_text(latency)} (probe: {summary.probe})"
        )
    elif summary.probe:
        lines.append(f"latency: not measured ({summary.probe})")
    lines.append(
        f"ledger: {ledger.accepted:,} accepted = {ledger.acknowledged:,} acknowledged + "
        f"{ledger.queued:,} queued + {ledger.dropped:,} dropped"
    )
    for reason, count in sorted(ledger.drop_reasons.items()):
        lines.append(f"  dropped {count:,}: {reason}")
    if summary.errors_by_kind:
        lines.append("errors by kind:")
        for kind, count in sorted(summary.errors_by_kind.items(), key=lambda kv: -kv[1]):
            lines.append(f"  {count:,} x {kind}")
    if summary.offline_devices:
        longest = ", ".join(f"{device} {offline:.1f} s" for device, offline in summary.outages)
        lines.append(
            f"offline: {counted(summary.offline_devices, 'device')} lost the connection, "
            f"{summary.offline_seconds:,.1f} s in all; longest: {longest}"
        )
    lines += [f"error: {sample}" for sample in summary.error_samples]
    if summary.devices and summary.errors == summary.devices and not interrupted:
        lines.append("the run ended: every device failed and trying again cannot help")
    lines += [f"warning: {warning}" for warning in summary.warnings]
    if interrupted:
        lines.append(f"result: interrupted (exit code {INTERRUPTED})")
    elif summary.ok:
        lines.append("result: ok, with warnings" if summary.warnings else "result: ok")
    else:
        lines.append("result: errors (exit code 1)")
    return lines
