"""``reprospective-agent status``: is my data safe, at a glance.

:func:`gather` builds one JSON-ready dict from the local databases (read-only), the running
agent (over its control socket), and PostgreSQL (one short connection); :func:`render` turns it
into text for people. ``attention`` lists what needs a person: the agent is down, PostgreSQL has
been unreachable for more than a sync interval, rows are held back, rows wait far longer than the
interval although the agent runs, a local database is unreadable (the rules are pure functions
in :mod:`host_agent.ops.status_rules`).
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from typing import Any

from host_agent.collectors.base import COLLECTORS
from host_agent.core.agent_lock import running_agent_pid
from host_agent.core.config import AgentConfig
from host_agent.core.errors import AgentError, IdentityError
from host_agent.core.identity import read_host_id
from host_agent.ops import control, postgres
from host_agent.ops.status_rules import Facts, TableFacts, age, clock_note, needs_attention
from host_agent.store.inspect import TableState, inspect_all

SUCCESS = ("success", "partial_success")


async def gather(config: AgentConfig) -> dict[str, Any]:
    """Look at everything (read-only) and build the report; ``ok`` is false when something needs a person."""
    now = time.time()
    pid = running_agent_pid(config.data_dir)
    live: dict[str, Any] | None = None
    if pid:
        try:
            live = await asyncio.to_thread(control.request, config.data_dir, "status", timeout=5)
        except AgentError:
            live = None
    local = await asyncio.to_thread(inspect_all, config)
    host = config.host_identifier
    identity_error = None
    try:
        host_id = await asyncio.to_thread(read_host_id, config.data_dir)  # None: no sync run made it yet
    except IdentityError as exc:
        host_id, identity_error = None, str(exc)
    pg = await _postgres(config, host, host_id) if config.data_sync.enabled else {"checked": False}
    clock = _clock(live, pg.get("host"), now)

    # Failed runs not followed by a success: still in the local journal (PostgreSQL away), or
    # already in sync_logs (PostgreSQL answers, but the runs fail: a revoked grant, a lost table)
    # for the tables whose latest run in the agent failed too.
    failing_now = set()
    if live and live["sync"].get("active"):
        failing_now = {name for name, r in live["sync"]["last_results"].items() if r["status"] == "failed"}
    failed = sorted(
        [(j.started_at, j.message) for t in local.values() for j in t.journal if j.status == "failed"]
        + [(f["since"], f["error"]) for f in pg.get("failing", []) if f["table_name"] in failing_now]
    )
    failing_since = failed[0][0] if failed else None
    if pg.get("checked"):
        pg["failing_since"] = _when(failing_since, now)

    failures = live.get("collector_failures", {}) if live else {}
    facts = Facts(
        now=now,
        agent_running=bool(pid),
        sync_enabled=config.data_sync.enabled,
        interval_seconds=config.data_sync.interval_seconds,
        postgres_checked=bool(pg.get("checked")),
        postgres_reachable=bool(pg.get("reachable")),
        failing_since=failing_since,
        last_error=failed[-1][1] if failed else None,
        run_started_at=live["sync"].get("run_started_at") if live and live["sync"].get("active") else None,
        clock_offset=clock["offset_seconds"] if clock else None,
        identity_error=identity_error,
        failed_collectors=tuple((kind.label, failures[kind.section]["error"]) for kind in COLLECTORS
                                if kind.section in failures),  # fmt: skip
        tables=tuple(TableFacts(n, t.oldest_waiting_at, len(t.held), t.error) for n, t in local.items()),
    )
    attention = needs_attention(facts)
    logged = pg.get("logged", {})
    return {
        "ok": not attention,
        "attention": attention,
        "checked_at": _iso(now),
        "config": str(config.source) if config.source else None,
        "data_dir": str(config.data_dir),
        "host_identifier": host,
        "host_id": str(host_id) if host_id else None,
        "clock": clock,
        "agent": {
            "running": bool(pid),
            "pid": pid if pid and pid > 0 else None,
            "responding": live is not None,
            "started": _when(live.get("started_at"), now) if live else None,
        },
        "postgres": {k: v for k, v in pg.items() if k not in ("logged", "failing", "host")},
        "collectors": {
            kind.section: {
                "enabled": kind.enabled(config),
                "running": (live["collectors"].get(kind.section) is not None) if live else None,
                "figures": live["collectors"].get(kind.section) if live else None,
                "failure": _when_failed(failures.get(kind.section), now),
            }
            for kind in COLLECTORS
        },
        "sync": _sync_section(config, live, now),
        "tables": {name: _table(state, logged.get(name, []), live, now) for name, state in local.items()},
    }


def _when_failed(failure: dict[str, Any] | None, now: float) -> dict[str, Any] | None:
    if failure is None:
        return None
    return {"error": failure["error"], "failures_in_a_row": failure["failures"], **_when(failure["failed_at"], now)}


def _sync_section(config: AgentConfig, live: dict[str, Any] | None, now: float) -> dict[str, Any]:
    sync: dict[str, Any] = {
        "enabled": config.data_sync.enabled,
        "interval_seconds": config.data_sync.interval_seconds,
        "retention_days": config.data_sync.retention_days,
    }
    if live and live["sync"].get("active"):
        sync["consecutive_failures"] = live["sync"]["consecutive_failures"]
        sync["last_run"] = _when(live["sync"]["last_run_at"], now)
        sync["run_in_progress"] = _when(live["sync"].get("run_started_at"), now)
        offset = live["sync"].get("clock_offset")
        sync["clock_offset_seconds"] = round(offset, 1) if offset is not None else None
    return sync


def _clock(live: dict[str, Any] | None, recorded: dict[str, Any] | None, now: float) -> dict[str, Any] | None:
    """This host's clock minus PostgreSQL's: the running agent's latest figure, else the one its
    last run recorded in the ``hosts`` table."""
    if live and live["sync"].get("active") and live["sync"].get("clock_offset") is not None:
        offset, measured, source = live["sync"]["clock_offset"], live["sync"].get("last_run_at"), "agent"
    elif recorded and recorded.get("clock_offset_seconds") is not None:
        offset, measured, source = recorded["clock_offset_seconds"], recorded["clock_measured_at"], "hosts table"
    else:
        return None
    return {"offset_seconds": round(offset, 1), "measured": _when(measured, now), "source": source,
            "note": clock_note(offset)}


async def _postgres(config: AgentConfig, host: str, host_id: object = None) -> dict[str, Any]:
    """Reachability, this host's latest runs in ``sync_logs`` (the last success and the last run
    that moved rows, per table), and its row in ``hosts``."""
    found = await asyncio.to_thread(postgres.target, config)
    info: dict[str, Any] = {"checked": True, "kind": found.kind, "target": found.shown, "reachable": False, "error": None}
    if found.url is None:
        info["error"] = found.problem
        return info
    try:
        async with postgres.connect(found.url) as conn:
            info["reachable"] = True
            if host_id is not None and await conn.fetchval("SELECT to_regclass('hosts') IS NOT NULL"):
                row = await conn.fetchrow(
                    "SELECT host_identifier, clock_offset_seconds, extract(epoch FROM clock_measured_at)::float8 "
                    "AS clock_measured_at FROM hosts WHERE host_id = $1",
                    host_id,
                    timeout=postgres.CONNECT_TIMEOUT,
                )
                info["host"] = dict(row) if row else None
            if await conn.fetchval("SELECT to_regclass('sync_logs') IS NOT NULL"):
                rows = await conn.fetch(
                    "(SELECT DISTINCT ON (table_name) table_name, extract(epoch FROM sync_completed_at) AS completed, "
                    "records_synced, records_failed, status FROM sync_logs "
                    "WHERE host_identifier = $1 AND status = ANY($2::text[]) "
                    "ORDER BY table_name, sync_completed_at DESC NULLS LAST) "
                    "UNION ALL "
                    "(SELECT DISTINCT ON (table_name) table_name, extract(epoch FROM sync_completed_at), "
                    "records_synced, records_failed, status FROM sync_logs "
                    "WHERE host_identifier = $1 AND records_synced > 0 "
                    "ORDER BY table_name, sync_completed_at DESC NULLS LAST)",
                    host,
                    list(SUCCESS),
                    timeout=postgres.CONNECT_TIMEOUT,
                )
                logged: dict[str, list[dict[str, Any]]] = {}
                for r in rows:
                    logged.setdefault(r["table_name"], []).append(dict(r) | {"source": "sync_logs"})
                info["logged"] = logged
                info["failing"] = [
                    dict(r)
                    for r in await conn.fetch(
                        "SELECT table_name, min(extract(epoch FROM sync_started_at))::float8 AS since, "
                        "(array_agg(error_message ORDER BY sync_started_at DESC))[1] AS error FROM sync_logs AS f "
                        "WHERE host_identifier = $1 AND status = 'failed' AND sync_started_at > COALESCE(("
                        "SELECT max(sync_completed_at) FROM sync_logs AS s WHERE s.host_identifier = $1 "
                        "AND s.table_name = f.table_name AND s.status = ANY($2::text[])), '-infinity') "
                        "GROUP BY table_name",
                        host,
                        list(SUCCESS),
                        timeout=postgres.CONNECT_TIMEOUT,
                    )
                ]
    except postgres.PostgresUnavailableError as exc:
        info["error"] = str(exc)
    except Exception as exc:  # connected, but the query failed: still reachable
        info["error"] = f"sync_logs unreadable: {type(exc).__name__}"
    return info


def _runs(state: TableState, logged: list[dict[str, Any]], live: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Every known recent run of a table: from sync_logs, the local journal and the running agent."""
    runs = list(logged)
    runs += [
        {
            "completed": j.completed_at,
            "records_synced": j.records_synced,
            "records_failed": j.records_failed,
            "status": j.status,
            "source": "local journal",
        }
        for j in state.journal
    ]
    if live and live["sync"].get("active") and live["sync"]["last_run_at"]:
        run = live["sync"]["last_results"].get(state.table_name)
        if run:
            runs.append(
                {k: run[k] for k in ("records_synced", "records_failed", "status")}
                | {"completed": live["sync"]["last_run_at"], "source": "agent"}
            )
    return runs


def _latest(runs: list[dict[str, Any]], now: float) -> dict[str, Any] | None:
    best = max(runs, key=lambda c: float(c["completed"] or 0), default=None)
    if best is None:
        return None
    return {
        **(_when(float(best["completed"] or 0), now) or {}),
        "records_synced": best["records_synced"],
        "records_failed": best["records_failed"],
        "status": best["status"],
        "source": best["source"],
    }


def _table(state: TableState, logged: list[dict[str, Any]], live: dict[str, Any] | None, now: float) -> dict:
    runs = _runs(state, logged, live)
    return {
        "database": str(state.db_path),
        "exists": state.exists,
        "waiting": state.waiting,
        "oldest_waiting": _when(state.oldest_waiting_at, now),
        "held": len(state.held),
        "held_rows": [row.as_dict() for row in state.held],
        "last_marked_synced": _when(state.last_synced_at, now),
        # The last run that succeeded (often one with nothing to do), and the last that moved rows.
        "last_success": _latest([r for r in runs if r["status"] in SUCCESS], now),
        "last_rows_moved": _latest([r for r in runs if r["records_synced"]], now),
        "journal_pending": len(state.journal),
        "error": state.error,
    }


# -- formatting ----------------------------------------------------------------------------------


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat(timespec="seconds")


def _when(epoch: float | None, now: float) -> dict[str, Any] | None:
    if epoch is None:
        return None
    return {"at": _iso(epoch), "age_seconds": round(max(now - epoch, 0), 1)}


def _local(when: dict[str, Any] | None) -> str:
    if when is None:
        return "-"
    at = datetime.fromisoformat(when["at"]).astimezone()
    return f"{at:%Y-%m-%d %H:%M:%S %Z} ({age(when['age_seconds'])} ago)"


def render(status: dict[str, Any]) -> str:
    """The report as text for people."""
    lines = [f"Reprospective status: {'OK' if status['ok'] else 'NEEDS ATTENTION'}"]
    lines += _render_overview(status)
    for name, table in status["tables"].items():
        lines += ["", name, *_render_table(table)]
    held = [row for table in status["tables"].values() for row in table["held_rows"]]
    if held:
        lines += ["", "Held back rows:"]
        lines += [f"  {r['table_name']} row {r['row_id']}: {r['reason']}" for r in held[:20]]
        if len(held) > 20:
            lines.append(f"  ... and {len(held) - 20} more (reprospective-agent held)")
    if status["attention"]:
        lines += ["", "Needs attention:"] + [f"  - {item}" for item in status["attention"]]
    return "\n".join(lines)


def _line(key: str, value: str) -> str:
    return f"  {key:<13} {value}"


def _render_overview(status: dict[str, Any]) -> list[str]:
    lines = [
        _line("config", status["config"] or "built-in defaults (no config file)"),
        _line("data folder", status["data_dir"]),
        _line("host", f"{status['host_identifier']} (id {status['host_id'] or 'none yet: the first sync run makes it'})"),
    ]
    agent = status["agent"]
    if not agent["running"]:
        lines.append(_line("agent", "not running"))
    else:
        detail = f"pid {agent['pid']}" if agent["pid"] else "pid unknown"
        if agent["started"]:
            detail += f", up {age(agent['started']['age_seconds'])}"
        if not agent["responding"]:
            detail += ", not answering on its control socket"
        lines.append(_line("agent", f"running ({detail})"))

    pg = status["postgres"]
    if not pg.get("checked"):
        lines.append(_line("PostgreSQL", "not checked (data sync disabled)"))
    elif pg["reachable"]:
        lines.append(_line("PostgreSQL", f"reachable: {pg['target']}"))
    else:
        lines.append(_line("PostgreSQL", f"UNREACHABLE: {pg['error']}"))
    if pg.get("failing_since"):
        lines.append(_line("", f"sync runs failing since {_local(pg['failing_since'])}"))

    def collector(section: str, info: dict[str, Any]) -> str:
        running = {True: "running", False: "not running", None: "enabled"}[info["running"]]
        if info.get("failure"):
            running = f"failed {age(info['failure']['age_seconds'])} ago, restarting"
        return f"{section.replace('_', ' ')}: {running if info['enabled'] else 'disabled'}"

    lines.append(_line("collectors", "; ".join(collector(s, i) for s, i in status["collectors"].items())))
    for section, info in status["collectors"].items():
        if info.get("figures"):
            figures = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in info["figures"].items())
            lines.append(_line("", f"{section.replace('_', ' ')}: {figures}"))
    sync = status["sync"]
    if not sync["enabled"]:
        lines.append(_line("sync", "disabled (data_sync.enabled: false)"))
    else:
        text = f"every {sync['interval_seconds']:g} s"
        if sync.get("last_run"):
            text += f"; agent's last run {age(sync['last_run']['age_seconds'])} ago"
        if sync.get("consecutive_failures"):
            text += f"; {sync['consecutive_failures']} failed run(s) in a row"
        lines.append(_line("sync", text))
    lines.append(_line("retention", f"{sync['retention_days']} days" if sync["retention_days"] else "keeps everything"))
    clock = status["clock"]
    if clock:
        offset = clock["offset_seconds"]
        side = "ahead of" if offset > 0 else "behind"
        text = f"{abs(offset):g} s {side} PostgreSQL's" if abs(offset) >= 1 else "within a second of PostgreSQL's"
        text += f" (measured {_local(clock['measured'])}, {clock['source']})"
        lines.append(_line("clock", text + (": rows may land in the wrong hour or day" if clock["note"] else "")))
    return lines


def _render_table(table: dict[str, Any]) -> list[str]:
    if not table["exists"]:
        return [f"  no local database yet ({table['database']})"]
    lines = [
        _line("waiting", str(table["waiting"])),
        _line("oldest", _local(table["oldest_waiting"])),
        _line("held back", str(table["held"])),
        _line("last synced", _local(table["last_marked_synced"])),
    ]
    success, moved = table["last_success"], table["last_rows_moved"]
    lines.append(_line("last success", f"{_local(success)} ({success['source']})" if success else "-"))
    if moved:
        lines.append(_line("last rows", f"{_local(moved)}: {moved['records_synced']} synced ({moved['source']})"))
    else:
        lines.append(_line("last rows", "-"))
    if table["journal_pending"]:
        lines.append(_line("journal", f"{table['journal_pending']} run(s) not yet in sync_logs"))
    return lines
