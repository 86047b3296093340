"""The reaper: a tiny child of `railyard dev` that stops the platform's apps and builds when the
platform dies, however it dies (SIGKILL included).

It blocks reading its standard input, a pipe whose only writer is the platform: the read returns
end-of-file the moment the platform's process is gone, and the reaper then stops every process
group listed by chalicelib/adapters/process_groups.py, deletes the platform's netfilter table
(chalicelib/adapters/netguard.py) when it was given one, and exits. On a clean stop the platform has
already stopped them all, so there is nothing left to do. SIGINT and SIGTERM are ignored so that a
Ctrl-C meant for the platform cannot take the reaper down first.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2):
        print(
            "usage: python -m railyard.localdev.reaper <process-groups directory> [<nft table>]",
            file=sys.stderr,
        )
        return 2
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while sys.stdin.buffer.read(4096):
        pass
    from chalicelib.adapters.process_groups import stop_leftovers

    stopped = stop_leftovers(Path(args[0]))
    if len(args) == 2:  # the platform's network guard: no stale rule outlives it
        from chalicelib.adapters.netguard import delete_table

        delete_table(args[1])
    if stopped:
        print(
            f"railyard reaper: the platform is gone; stopped {len(stopped)} process groups", file=sys.stderr
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
