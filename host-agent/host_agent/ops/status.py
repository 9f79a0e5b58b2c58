"""``reprospective-agent status``: is my data safe, at a glance.

:func:`gather` builds one JSON-ready dict from the local databases (read-only), the running
agent (over its control socket), and PostgreSQL (one short connection); :func:`render` turns it
into text for people. ``attention`` lists what needs a person: the agent is down, PostgreSQL has
been unreachable for more than a sync interval, rows are held back, rows wait far longer than the
interval although the agent runs, a local database is unreadable.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from typing import Any

from host_agent.common.agent_lock import running_agent_pid
from host_agent.common.data_sync import DataSyncManager
from host_agent.config import AgentConfig
from host_agent.errors import AgentError
from host_agent.ops import control, postgres
from host_agent.ops.local import LocalTable, inspect_all

SUCCESS = ("success", "partial_success")
#: A waiting row older than two sync intervals plus this margin means the agent's sync is stuck
#: (a failure that is not an outage, or a loop that does not run).
LAG_MARGIN_SECONDS = 60


async def gather(config: AgentConfig) -> dict[str, Any]:
    now = time.time()
    pid = running_agent_pid(config.data_dir)
    live: dict[str, Any] | None = None
    if pid:
        try:
            live = await asyncio.to_thread(control.request, config.data_dir, "status", timeout=5)
        except AgentError:
            live = None
    local = await asyncio.to_thread(inspect_all, config)
    host = DataSyncManager._get_host_identifier()
    pg = await _postgres(config, host) if config.data_sync.enabled else {"checked": False}

    failing_since = min(
        (j.started_at for t in local.values() for j in t.journal if j.status == "failed"), default=None
    )
    if pg.get("checked"):
        pg["failing_since"] = _when(failing_since, now)

    tables = {name: _table(state, pg.get("last_success", {}).get(name), live, now) for name, state in local.items()}
    collectors = {
        section: {
            "enabled": getattr(config, section).enabled,
            "running": live["collectors"].get(section) if live else None,
        }
        for section in control.COLLECTOR_SECTIONS
    }
    sync: dict[str, Any] = {
        "enabled": config.data_sync.enabled,
        "interval_seconds": config.data_sync.interval_seconds,
        "retention_days": config.data_sync.retention_days,
    }
    if live and live["sync"].get("active"):
        sync["consecutive_failures"] = live["sync"]["consecutive_failures"]
        sync["last_run"] = _when(live["sync"]["last_run_at"], now)

    attention = []
    if not pid:
        attention.append("the agent is not running (start it with scripts/start-agent.sh)")
    held = sum(len(t.held) for t in local.values())
    if held:
        attention.append(f"{held} row(s) held back by PostgreSQL (see 'reprospective-agent held')")
    if (
        pg.get("checked")
        and not pg["reachable"]
        and failing_since is not None
        and now - failing_since > config.data_sync.interval_seconds
    ):
        attention.append(f"PostgreSQL unreachable for {_age(now - failing_since)} (more than one sync interval)")
    lag_limit = 2 * config.data_sync.interval_seconds + LAG_MARGIN_SECONDS
    for name, state in local.items():
        if pid and config.data_sync.enabled and state.oldest_waiting_at and now - state.oldest_waiting_at > lag_limit:
            attention.append(
                f"{name}: rows have been waiting for {_age(now - state.oldest_waiting_at)} although the agent runs "
                f"(sync every {config.data_sync.interval_seconds:g} s; see its log)"
            )
    attention += [t.error for t in local.values() if t.error]

    return {
        "ok": not attention,
        "attention": attention,
        "checked_at": _iso(now),
        "config": str(config.source) if config.source else None,
        "data_dir": str(config.data_dir),
        "host_identifier": host,
        "agent": {
            "running": bool(pid),
            "pid": pid if pid and pid > 0 else None,
            "responding": live is not None,
            "started": _when(live.get("started_at"), now) if live else None,
        },
        "postgres": {k: v for k, v in pg.items() if k != "last_success"},
        "collectors": collectors,
        "sync": sync,
        "tables": tables,
    }


async def _postgres(config: AgentConfig, host: str) -> dict[str, Any]:
    found = await asyncio.to_thread(postgres.target, config)
    info: dict[str, Any] = {"checked": True, "kind": found.kind, "target": found.shown, "reachable": False, "error": None}
    if found.url is None:
        info["error"] = found.problem
        return info
    try:
        async with postgres.connect(found.url) as conn:
            info["reachable"] = True
            if await conn.fetchval("SELECT to_regclass('sync_logs') IS NOT NULL"):
                rows = await conn.fetch(
                    "SELECT DISTINCT ON (table_name) table_name, extract(epoch FROM sync_completed_at) AS completed, "
                    "records_synced, records_failed, status FROM sync_logs "
                    "WHERE host_identifier = $1 AND status = ANY($2::text[]) "
                    "ORDER BY table_name, sync_completed_at DESC NULLS LAST",
                    host,
                    list(SUCCESS),
                    timeout=postgres.CONNECT_TIMEOUT,
                )
                info["last_success"] = {r["table_name"]: dict(r) | {"source": "sync_logs"} for r in rows}
    except postgres.PostgresUnavailableError as exc:
        info["error"] = str(exc)
    except Exception as exc:  # connected, but the query failed: still reachable
        info["error"] = f"sync_logs unreadable: {type(exc).__name__}"
    return info


def _table(state: LocalTable, logged: dict[str, Any] | None, live: dict[str, Any] | None, now: float) -> dict:
    candidates = [logged] if logged else []
    candidates += [
        {
            "completed": j.completed_at,
            "records_synced": j.records_synced,
            "records_failed": j.records_failed,
            "status": j.status,
            "source": "local journal",
        }
        for j in state.journal
        if j.status in SUCCESS
    ]
    if live and live["sync"].get("active"):
        run = live["sync"]["last_results"].get(state.table_name)
        if run and run["status"] in SUCCESS and live["sync"]["last_run_at"]:
            candidates.append(
                {k: run[k] for k in ("records_synced", "records_failed", "status")}
                | {"completed": live["sync"]["last_run_at"], "source": "agent"}
            )
    best = max(candidates, key=lambda c: float(c["completed"] or 0), default=None)
    last_success = None
    if best is not None:
        last_success = {
            **(_when(float(best["completed"]), now) or {}),
            "records_synced": best["records_synced"],
            "records_failed": best["records_failed"],
            "status": best["status"],
            "source": best["source"],
        }
    return {
        "database": str(state.db_path),
        "exists": state.exists,
        "waiting": state.waiting,
        "oldest_waiting": _when(state.oldest_waiting_at, now),
        "held": len(state.held),
        "held_rows": [row.as_dict() for row in state.held],
        "last_marked_synced": _when(state.last_synced_at, now),
        "last_success": last_success,
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


def _age(seconds: float) -> str:
    seconds = max(seconds, 0)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds // 3600:.0f} h {seconds % 3600 // 60:.0f} min"
    return f"{seconds / 86400:.0f} days"


def _local(when: dict[str, Any] | None) -> str:
    if when is None:
        return "-"
    at = datetime.fromisoformat(when["at"]).astimezone()
    return f"{at:%Y-%m-%d %H:%M:%S %Z} ({_age(when['age_seconds'])} ago)"


def render(status: dict[str, Any]) -> str:
    lines = [f"Reprospective status: {'OK' if status['ok'] else 'NEEDS ATTENTION'}"]
    add = lambda key, value: lines.append(f"  {key:<13} {value}")  # noqa: E731
    add("config", status["config"] or "built-in defaults (no config file)")
    add("data folder", status["data_dir"])

    agent = status["agent"]
    if not agent["running"]:
        add("agent", "not running")
    else:
        detail = f"pid {agent['pid']}" if agent["pid"] else "pid unknown"
        if agent["started"]:
            detail += f", up {_age(agent['started']['age_seconds'])}"
        if not agent["responding"]:
            detail += ", not answering on its control socket"
        add("agent", f"running ({detail})")

    pg = status["postgres"]
    if not pg.get("checked"):
        add("PostgreSQL", "not checked (data sync disabled)")
    elif pg["reachable"]:
        add("PostgreSQL", f"reachable: {pg['target']}")
    else:
        add("PostgreSQL", f"UNREACHABLE: {pg['error']}")
    if pg.get("failing_since"):
        add("", f"sync runs failing since {_local(pg['failing_since'])}")

    def collector(section: str, info: dict[str, Any]) -> str:
        state = "disabled" if not info["enabled"] else {True: "running", False: "not running", None: "enabled"}[info["running"]]
        return f"{section.replace('_', ' ')}: {state}"

    add("collectors", "; ".join(collector(s, i) for s, i in status["collectors"].items()))
    sync = status["sync"]
    if not sync["enabled"]:
        add("sync", "disabled (data_sync.enabled: false)")
    else:
        text = f"every {sync['interval_seconds']:g} s"
        if sync.get("last_run"):
            text += f"; agent's last run {_age(sync['last_run']['age_seconds'])} ago"
        if sync.get("consecutive_failures"):
            text += f"; {sync['consecutive_failures']} failed run(s) in a row"
        add("sync", text)
    add("retention", f"{sync['retention_days']} days" if sync["retention_days"] else "keeps everything")

    for name, table in status["tables"].items():
        lines.append("")
        lines.append(name)
        if not table["exists"]:
            lines.append(f"  no local database yet ({table['database']})")
            continue
        add("waiting", str(table["waiting"]))
        add("oldest", _local(table["oldest_waiting"]))
        add("held back", str(table["held"]))
        add("last synced", _local(table["last_marked_synced"]))
        success = table["last_success"]
        if success:
            add(
                "last success",
                f"{_local(success)}: {success['records_synced']} synced, "
                f"{success['records_failed']} failed ({success['source']})",
            )
        else:
            add("last success", "-")
        if table["journal_pending"]:
            add("journal", f"{table['journal_pending']} run(s) not yet in sync_logs")

    held = [row for table in status["tables"].values() for row in table["held_rows"]]
    if held:
        lines += ["", "Held back rows:"]
        lines += [f"  {r['table_name']} row {r['row_id']}: {r['reason']}" for r in held[:20]]
        if len(held) > 20:
            lines.append(f"  ... and {len(held) - 20} more (reprospective-agent held)")
    if status["attention"]:
        lines += ["", "Needs attention:"] + [f"  - {item}" for item in status["attention"]]
    return "\n".join(lines)
