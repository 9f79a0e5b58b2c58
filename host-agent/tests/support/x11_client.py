"""A tiny X client with one top-level window, driven from stdin (run as a script by the tests).

Arguments: ``--display :N --title TEXT [--instance I] [--class C] [--no-pid]``. It creates and
maps the window, prints its id, then obeys one command per line and answers "ok" once the X
server has applied it:

- ``title TEXT``: set ``_NET_WM_NAME`` (UTF-8) and ``WM_NAME`` to TEXT;
- ``raw-title HEX``: set ``_NET_WM_NAME`` (typed STRING) to raw bytes and delete ``WM_NAME``;
- ``no-title``: delete both title properties;
- ``quit``: destroy the window and exit (so does end of input).
"""

from __future__ import annotations

import argparse
import os
import sys

from Xlib import X, Xatom
from Xlib import display as xdisplay


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--display", required=True)
    parser.add_argument("--title")
    parser.add_argument("--instance")
    parser.add_argument("--class", dest="klass")
    parser.add_argument("--no-pid", action="store_true")
    args = parser.parse_args()

    display = xdisplay.Display(args.display)
    screen = display.screen()
    window = screen.root.create_window(0, 0, 200, 100, 0, screen.root_depth, X.InputOutput, X.CopyFromParent)
    net_wm_name = display.intern_atom("_NET_WM_NAME")
    utf8 = display.intern_atom("UTF8_STRING")

    def set_title(text: str | None) -> None:
        if text is None:
            window.delete_property(net_wm_name)
            window.delete_property(Xatom.WM_NAME)
            return
        window.change_property(net_wm_name, utf8, 8, text.encode("utf-8"))
        window.change_property(Xatom.WM_NAME, Xatom.STRING, 8, text.encode("utf-8"))

    if args.instance is not None or args.klass is not None:
        value = f"{args.instance or ''}\0{args.klass or ''}\0".encode()
        window.change_property(Xatom.WM_CLASS, Xatom.STRING, 8, value)
    if not args.no_pid:
        window.change_property(display.intern_atom("_NET_WM_PID"), Xatom.CARDINAL, 32, [os.getpid()])
    set_title(args.title)
    window.map()
    display.sync()
    print(window.id, flush=True)

    for line in sys.stdin:
        command, _, rest = line.rstrip("\n").partition(" ")
        if command == "quit":
            break
        if command == "title":
            set_title(rest)
        elif command == "raw-title":
            window.delete_property(Xatom.WM_NAME)
            window.change_property(net_wm_name, Xatom.STRING, 8, bytes.fromhex(rest))
        elif command == "no-title":
            set_title(None)
        else:
            print(f"unknown command {command!r}", flush=True)
            continue
        display.sync()
        print("ok", flush=True)
    window.destroy()
    display.sync()
    display.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
