"""A source tree held in a dict, for the build planner's and railway.json's unit tests: the
SourceTree port (chalicelib/domain/buildplan) over {relative path: text}, no files on disk."""

from __future__ import annotations


class DictTree:
    """SourceTree over {relative path: text}."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = files

    def exists(self, path: str) -> bool:
        return path in self.files

    def read_text(self, path: str) -> str:
        return self.files[path]

    def list_dir(self, path: str) -> list[str]:
        prefix = "" if path in ("", ".") else path.rstrip("/") + "/"
        names = set()
        for name in self.files:
            if name.startswith(prefix):
                head, sep, _ = name[len(prefix) :].partition("/")
                names.add(head + sep)
        return sorted(names)
