"""The tether: runs a program that cannot watch its own standard input (LocalStack, DynamoDB Local's
JVM) so that it dies with the platform, however the platform dies (SIGKILL included).

`railyard dev` starts `python -m railyard.localdev.tether -- <program> <args>` as a `children.Child`:
a pipe on the tether's standard input whose only writer is the platform. The tether starts the
program in a session of its own (a Ctrl-C in the terminal reaches the platform, which stops things
in order, not the program first), prints `{"pid": <pid>}` as its handshake, and when the pipe
closes (the platform stopped or died) it stops the program's whole process group: SIGTERM, then
SIGKILL after `--grace` seconds (STOP_SECONDS by default). If the program ends on its own, the
tether ends with its exit code. Should the tether itself be killed, the program gets SIGTERM from
the kernel (PR_SET_PDEATHSIG: safe here, because the thread that forks it is the tether's main
thread, which lives as long as it does).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading

STOP_SECONDS = 10.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the program's process between fork and exec."""
    with contextlib.suppress(Exception):  # not Linux: the pipe is the only tie
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _stop_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            # The leader is gone; children it left in the group go too.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            return
        except subprocess.TimeoutExpired:
            continue


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    grace = STOP_SECONDS
    if args[:1] == ["--grace"] and len(args) > 1:
        grace, args = float(args[1]), args[2:]
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        print(
            "usage: python -m railyard.localdev.tether [--grace SECONDS] -- <program> [args...]",
            file=sys.stderr,
        )
        return 2
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the platform's to handle
    proc = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=sys.stderr.fileno(),  # the program's output goes to the child's log file
        stderr=sys.stderr.fileno(),
        start_new_session=True,
        preexec_fn=_die_with_parent,  # safe: no other thread in this process yet
    )
    stopping = threading.Event()
    stop_lock = threading.Lock()  # a second caller waits until the first has stopped the group

    def stop(*_: object) -> None:
        with stop_lock:
            if not stopping.is_set():
                stopping.set()
                _stop_group(proc, grace)

    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=stop, daemon=True).start())

    def watch_parent() -> None:
        while sys.stdin.buffer.read(4096):
            pass
        stop()

    threading.Thread(target=watch_parent, name="parent-watch", daemon=True).start()
    print(json.dumps({"pid": proc.pid}), flush=True)
    code = proc.wait()
    asked = stopping.is_set()
    stop()  # whatever it left in its group
    return 0 if asked else code


if __name__ == "__main__":
    sys.exit(main())
