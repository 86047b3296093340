"""Pure-python wheels written by hand, for builds that install offline (`--no-index --find-links`).

`tiny_flask_wheel` is a package named `flask` (version 0.0.1, made here, nothing of the real one)
whose `Flask` serves one text answer on $PORT with the standard library: enough for an app that
does `from flask import Flask` to start and answer 200, and for one without it in its
requirements to fail with ModuleNotFoundError. It has a console script, `tiny-flask`, so a test
can see a script's shebang follow the venv when the venv moves."""

from __future__ import annotations

import base64
import hashlib
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TINY_FLASK = '''\
"""Not Flask: a stand-in wheel made by Railyard's tests."""
import http.server
import os


class Flask:
    def __init__(self, name):
        self.routes = {}

    def route(self, path):
        def register(view):
            self.routes[path] = view
            return view
        return register

    def run(self, host="0.0.0.0", port=None):
        routes = self.routes

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                view = routes.get(self.path)
                body = (view() if view else "not found").encode()
                self.send_response(200 if view else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        port = int(port or os.environ["PORT"])
        http.server.ThreadingHTTPServer((host, port), Handler).serve_forever()


def main():
    print("tiny-flask")
'''

# An app in the shape of Flask's quickstart, started with `python3 main.py`: the app object is made
# in a function, so the planner does not choose gunicorn (which no local wheel provides).
FLASK_APP = """\
import flask


def create():
    return flask.Flask(__name__)


app = create()


@app.route("/")
def hello():
    return "hello from a venv"


if __name__ == "__main__":
    app.run()
"""


def make_wheel(directory: Path, name: str, version: str, files: dict[str, str], scripts: str = "") -> Path:
    """A py3-none-any wheel of `files` (path -> text) in `directory`; `scripts` is the text of
    entry_points.txt's [console_scripts] section, if any."""
    info = f"{name}-{version}.dist-info"
    contents = dict(files)
    contents[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    contents[f"{info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: railyard-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    if scripts:
        contents[f"{info}/entry_points.txt"] = f"[console_scripts]\n{scripts}\n"
    record = []
    for path, text in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    contents[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    directory.mkdir(parents=True, exist_ok=True)
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, text in contents.items():
            archive.writestr(path, text)
    return wheel


def tiny_flask_wheel(directory: Path) -> Path:
    return make_wheel(
        directory, "flask", "0.0.1", {"flask/__init__.py": TINY_FLASK}, scripts="tiny-flask = flask:main"
    )


def offline_requirements(wheels: Path, *requirements: str) -> str:
    """A requirements.txt that installs only from `wheels` (never an index: tests stay offline)."""
    wheels.chmod(0o755)  # the build runs as the service's uid when the platform isolates tenants
    return "\n".join(["--no-index", f"--find-links {wheels}", *requirements]) + "\n"


@contextmanager
def tiny_flask_wheel_dir() -> Iterator[Path]:
    """A wheel directory holding `tiny_flask_wheel` that any uid can read (pytest's tmp is root's
    alone when the suite runs as root, and builds run as the service's uid); removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="railyard-wheels-"))
    tiny_flask_wheel(directory)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)
