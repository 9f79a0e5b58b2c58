"""A real uvicorn server on a free loopback port, in a thread, and pages of a real Chromium.

The browser fixtures (``server``, ``browser``, ``page``, ``db``) are in ``conftest.py``. The listening socket is bound before the thread starts, so the browser can connect at once: the
kernel queues the connection until uvicorn accepts it; nothing waits on a timer.
"""

from __future__ import annotations

import socket
import threading

import uvicorn

from api_gateway.app import create_app
from api_gateway.config import Settings

CHROMIUM = "/usr/bin/chromium"
# From ../../../shared/recipes/browser.md: without them Chromium keeps opening connections this
# machine's closed network refuses.
CHROMIUM_ARGS = ["--disable-gpu", "--disable-quic", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


class ServerThread:
    def __init__(self, settings: Settings) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(create_app(settings), log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name="dashboard-under-test", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()
        if self.thread.is_alive():
            raise RuntimeError("the dashboard server did not stop within 30 s")


class Watched:
    """A page whose console errors, page errors and dialogs are collected: a test expects none."""

    def __init__(self, page) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("dialog", lambda d: self.problems.append(f"dialog opened: {d.message}"))


async def open_page(browser, server, *, width=1280, height=800, tz="UTC", scheme="light"):
    """A new context (viewport, time zone, colour scheme) on ``server`` and its one watched page."""
    context = await browser.new_context(viewport={"width": width, "height": height}, timezone_id=tz,
                                        color_scheme=scheme, base_url=server.url)
    context.set_default_timeout(10_000)
    page = await context.new_page()
    return context, Watched(page)


async def segment_point(page, host: str, application: str) -> tuple[float, float]:
    """Where on the page the timeline draws the middle of ``host``'s first ``application`` segment
    (a segment of a few seconds is drawn one pixel wide, from its start)."""
    return tuple(await page.evaluate(
        """([host, application]) => {
             const c = echarts.getInstanceByDom(document.getElementById('timeline-chart'));
             const d = JSON.parse(document.getElementById('timeline-data').textContent);
             const lane = d.lanes.findIndex(l => l.host_identifier === host);
             const seg = d.lanes[lane].segments.find(s => s.application === application);
             const box = document.getElementById('timeline-chart').getBoundingClientRect();
             const [x0, y] = c.convertToPixel({seriesIndex: 0}, [Date.parse(seg.start), lane]);
             const [x1] = c.convertToPixel({seriesIndex: 0}, [Date.parse(seg.end), lane]);
             return [box.left + x0 + Math.max(x1 - x0, 1) / 2, box.top + y]; }""", [host, application]))
