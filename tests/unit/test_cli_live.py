"""The CLI's reading of pushed log messages (railyard/commands/live.py `apply`): a message that
follows the cursor is printed, a repeat is not, and a gap is filled from the HTTP log route first,
so what the terminal shows is every line once, in order, whatever the pushes did."""

from __future__ import annotations

from typing import Any

import pytest

from railyard.commands.following import LogCursor
from railyard.commands.live import apply


class Route:
    """The HTTP log route over one stream's stored lines."""

    def __init__(self, seqs: list[int]) -> None:
        self.seqs = seqs
        self.reads = 0

    def get_logs(self, deployment_id: str, *, stream: str, after: int = 0) -> dict[str, Any]:
        self.reads += 1
        lines = [{"seq": s, "message": f"line {s}"} for s in self.seqs if s > after]
        return {"lines": lines, "next": lines[-1]["seq"] if lines else after, "done": False}


def _message(after: int, cursors: list[int]) -> dict[str, Any]:
    rows = [{"cursor": c, "ts": "", "line": f"line {c}"} for c in cursors]
    return {"type": "log", "stream": "deploy", "after": after, "cursor": cursors[-1], "lines": rows}


def test_pushes_that_follow_repeat_or_skip_print_every_line_once_in_order(
    capsys: pytest.CaptureFixture[str],
) -> None:
    route = Route([998, 999, 1000, 1999, 2000, 2998, 2999, 3000])
    cursor = LogCursor("deploy")
    apply(route, "dep_1", cursor, _message(0, [998, 999, 1000]), header=False)  # type: ignore[arg-type]
    apply(route, "dep_1", cursor, _message(0, [998, 999, 1000]), header=False)  # type: ignore[arg-type]  # a repeat
    assert route.reads == 0
    apply(route, "dep_1", cursor, _message(2000, [2998, 2999, 3000]), header=False)  # type: ignore[arg-type]  # 1999-2000 lost
    assert route.reads == 1
    apply(route, "dep_1", cursor, _message(1000, [1999, 2000]), header=False)  # type: ignore[arg-type]  # late
    printed = capsys.readouterr().out.split("\n")[:-1]
    assert printed == [f"line {s}" for s in route.seqs]
    assert cursor.after == 3000
