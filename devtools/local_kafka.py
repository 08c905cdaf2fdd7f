"""Run a throwaway single-node Apache Kafka broker (KRaft mode) from the official jars.

Why this exists: the stream processor must be tested against a *real* Kafka (rebalances,
transactions, broker restarts), but the machines we run on have Java and Maven and no
Docker.  So the project owns its broker: ``devtools/kafka/pom.xml`` (package data, so an
installed launcher has it as well as a checkout) pins the official Apache Kafka jars,
Maven resolves them once into a cache keyed by the pom's content, and each
:class:`LocalKafka` formats a private log directory and runs ``kafka.Kafka`` in a child JVM
on free loopback ports.  A broker is only reported ready after a real metadata request
answered with the expected cluster id and its group coordinator has loaded the committed
offsets, so callers never race a half-started (or half-restarted) broker.

Typical use::

    with LocalKafka(partitions=4) as kafka:
        run_pipeline(bootstrap_servers=kafka.bootstrap_servers)

or, from a shell: ``python -m devtools.local_kafka --partitions 4``.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import base64
import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any

from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.commit import OffsetFetchRequest
from aiokafka.protocol.metadata import MetadataRequest

__all__ = [
    "BOOTSTRAP_ENV",
    "POM_PATH",
    "KafkaLaunchError",
    "LocalKafka",
    "broker_from_env_or_local",
    "ensure_kafka_jars",
    "kafka_cache_dir",
    "kafka_version",
    "main",
]

Progress = Callable[[str], None]

#: The pom that pins the broker's jar set; its content hash keys the jar cache.
POM_PATH = Path(__file__).resolve().parent / "kafka" / "pom.xml"
#: Setting this makes :func:`broker_from_env_or_local` use an existing broker.
BOOTSTRAP_ENV = "KAFKA_BOOTSTRAP_SERVERS"
#: Overrides ``~/.cache/healthscore`` (CI caches this directory between runs).
CACHE_ENV = "HEALTHSCORE_CACHE_DIR"
#: Overrides the ``java`` executable (else ``$JAVA_HOME/bin/java``, else ``java`` on PATH).
JAVA_ENV = "HEALTHSCORE_JAVA"

_HOST = "127.0.0.1"
_NODE_ID = 1
_OFFSETS_TOPIC = "__consumer_offsets"
_STOP_TIMEOUT_S = 20.0
_FORMAT_TIMEOUT_S = 120.0
_MVN_TIMEOUT_S = 900.0
_LOG_TAIL_LINES = 40
_PORT_ATTEMPTS = 3
# What the JVM reports after a SIGTERM-triggered orderly shutdown (128 + 15), or 0.
_CLEAN_EXIT_CODES = frozenset({0, 143, -signal.SIGTERM})
# A small heap keeps several test brokers affordable; GC flags follow kafka-run-class.sh.
_JVM_OPTS = (
    "-Xms128m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)
# Log to stdout (captured in broker.log); state-change chatter is noise for one broker.
# log4j's own shutdown hook is disabled so Kafka's shutdown hook can still log (otherwise
# the end of an orderly shutdown - the part that matters when it hangs - is lost).
_LOG4J2_PROPERTIES = """\
status = warn
shutdownHook = disable
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.state.name = state.change.logger
logger.state.level = WARN
logger.state.additivity = false
logger.state.appenderRef.stdout.ref = STDOUT
"""


class KafkaLaunchError(Exception):
    """The broker (or its jars) could not be made ready; ``log_path`` says where to look."""

    def __init__(self, message: str, log_path: Path | None = None) -> None:
        super().__init__(message)
        self.log_path = log_path


def _stderr_progress(message: str) -> None:
    """Default progress sink: stderr, so stdout stays machine-readable."""
    sys.stderr.write(f"[local-kafka] {message}\n")
    sys.stderr.flush()


@cache
def kafka_version() -> str:
    """The Kafka version pinned by ``kafka.version`` in the pom (the single source of truth)."""
    try:
        root = ET.parse(POM_PATH).getroot()
    except (OSError, ET.ParseError) as exc:
        raise KafkaLaunchError(f"cannot read the Kafka pom {POM_PATH}: {exc}") from exc
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    version = root.findtext("m:properties/m:kafka.version", namespaces=ns)
    if not version or not version.strip():
        raise KafkaLaunchError(f"{POM_PATH} has no <kafka.version> property")
    return version.strip()


def kafka_cache_dir() -> Path:
    """Where resolved jars live: ``$HEALTHSCORE_CACHE_DIR`` or ``~/.cache/healthscore``.

    The version is part of the path so that bumping Kafka never mixes jar sets.
    """
    base = os.environ.get(CACHE_ENV) or str(Path.home() / ".cache" / "healthscore")
    return Path(base).expanduser() / "kafka" / kafka_version()


def _jars_present(libs: Path) -> bool:
    """A libs dir counts as complete if the broker's core jar is in it (it is renamed
    into place atomically, so a present dir is never half-copied)."""
    return any(libs.glob(f"kafka_2.*-{kafka_version()}.jar"))


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    """Serialise jar resolution across processes (e.g. parallel test workers)."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        with path.open(errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines)).rstrip()
    except OSError:
        return "(log file not readable)"


def ensure_kafka_jars(progress: Progress | None = None) -> Path:
    """Return a directory holding every jar the broker needs, resolving it on first use.

    Maven runs only when no jar set exists for the current pom content, so editing the pom
    (e.g. a version bump) transparently triggers a fresh resolution.
    """
    report = progress or _stderr_progress
    try:
        pom_bytes = POM_PATH.read_bytes()
    except OSError as exc:
        raise KafkaLaunchError(f"cannot read the Kafka pom {POM_PATH}: {exc}") from exc
    cache_dir = kafka_cache_dir()
    libs = cache_dir / f"libs-{hashlib.sha256(pom_bytes).hexdigest()[:16]}"
    if _jars_present(libs):
        return libs

    cache_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(cache_dir / ".resolve.lock"):
        if _jars_present(libs):  # another process resolved while we waited
            return libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise KafkaLaunchError(
                "Maven ('mvn') is not on PATH; it is needed once to download the Kafka "
                f"{kafka_version()} jars (e.g. `apt-get install maven`)."
            )
        if _maven_java() is None:
            raise KafkaLaunchError(
                "Java is not installed (no JAVA_HOME and no 'java' on PATH); Maven and the "
                "Kafka broker need a JDK/JRE 17+ (e.g. `apt-get install openjdk-17-jre-headless`)."
            )
        report(f"resolving Kafka {kafka_version()} jars with Maven (first run only)…")
        started = time.monotonic()
        staging = Path(tempfile.mkdtemp(prefix=f".{libs.name}-", dir=cache_dir))
        mvn_log = cache_dir / f"{libs.name}.mvn.log"
        cmd = [
            mvn, "-q", "-B", "-f", str(POM_PATH),
            "dependency:copy-dependencies", f"-DoutputDirectory={staging}",
        ]  # fmt: skip
        try:
            with mvn_log.open("wb") as log:
                code = subprocess.run(
                    cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    timeout=_MVN_TIMEOUT_S, check=False,
                ).returncode  # fmt: skip
        except subprocess.TimeoutExpired:
            shutil.rmtree(staging, ignore_errors=True)
            raise KafkaLaunchError(
                f"Maven did not finish within {_MVN_TIMEOUT_S:.0f} s; see {mvn_log}", mvn_log
            ) from None
        except BaseException:  # e.g. Ctrl-C: leave no half-filled staging dir behind
            shutil.rmtree(staging, ignore_errors=True)
            raise
        if code != 0 or not _jars_present(staging):
            shutil.rmtree(staging, ignore_errors=True)
            raise KafkaLaunchError(
                f"Maven failed to resolve the Kafka jars (exit {code}); full output in "
                f"{mvn_log}:\n{_tail(mvn_log)}",
                mvn_log,
            )
        if libs.exists():  # an incomplete leftover from an interrupted manual edit
            shutil.rmtree(libs)
        staging.rename(libs)
        count = sum(1 for _ in libs.glob("*.jar"))
        report(f"resolved {count} jars in {time.monotonic() - started:.1f} s into {libs}")
    return libs


def _maven_java() -> str | None:
    """The java Maven will use: it honours JAVA_HOME, then PATH (not HEALTHSCORE_JAVA)."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    return shutil.which("java")


def _find_java() -> str:
    """The java that runs the broker; overridable so tests and CI can pin a JDK."""
    override = os.environ.get(JAVA_ENV)
    if override:
        return override
    java = _maven_java()
    if java is None:
        raise KafkaLaunchError(
            "Java 17+ is needed to run the Kafka broker but was not found: install a JRE "
            f"(e.g. `apt-get install openjdk-17-jre-headless`) or set JAVA_HOME or {JAVA_ENV}."
        )
    return java


def _free_ports(count: int) -> list[int]:
    """Ask the kernel for distinct free loopback ports (all held open until every one is
    chosen, so they differ; a later clash is handled by retrying the launch)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((_HOST, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _random_cluster_id() -> str:
    """Kafka's cluster-id format: a UUID as 22 chars of URL-safe base64 (no padding).

    Never starting with "-" (as Kafka's own `Uuid.randomUuid`): `kafka-storage format
    --cluster-id -Cj2...` reads such an id as an option and fails (seen 1 start in 64)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class _BrokerExited(Exception):
    """Internal: the JVM died while we were waiting for it to become ready."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _run_in_fresh_loop(coro_factory: Callable[[], Any]) -> Any:
    """Run a coroutine on a private event loop in a helper thread.

    A helper thread is used even when no loop is running: ``asyncio.run`` would otherwise
    reset the calling thread's current event loop, which breaks callers (e.g. Faust apps)
    that set one up before starting the broker.
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(coro_factory())
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="local-kafka-probe", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def _java_string_hash(text: str) -> int:
    """``String.hashCode()`` (32-bit, over UTF-16 code units), as Kafka uses it."""
    value = 0
    utf16 = text.encode("utf-16-be")
    for i in range(0, len(utf16), 2):
        value = (31 * value + int.from_bytes(utf16[i : i + 2], "big")) & 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


@cache
def _probe_group_ids(offsets_partitions: int) -> tuple[str, ...]:
    """One (never used) group id per ``__consumer_offsets`` partition, chosen with the
    broker's own mapping ``abs(groupId.hashCode()) % partitions``."""
    by_partition: dict[int, str] = {}
    index = 0
    while len(by_partition) < offsets_partitions:
        group = f"healthscore-local-kafka-probe-{index}"
        code = _java_string_hash(group)
        partition = (0 if code == -(1 << 31) else abs(code)) % offsets_partitions
        by_partition.setdefault(partition, group)
        index += 1
    return tuple(by_partition[p] for p in range(offsets_partitions))


async def _serves_as_ready(client: AIOKafkaClient, cluster_id: str) -> bool:
    """One readiness check: a real Metadata request, then the group coordinator.

    The cluster id guards against a foreign process that grabbed the port.  The group
    coordinator check matters after a restart: while ``__consumer_offsets`` partitions are
    still loading, OffsetFetch (v2+) reports COORDINATOR_LOAD_IN_PROGRESS/NOT_COORDINATOR
    only in its top-level error code, which aiokafka 0.14 ignores - a consumer starting in
    that window silently sees "no committed offset" and applies auto_offset_reset.  So a
    broker is ready only once every offsets partition answers OffsetFetch cleanly.
    """
    metadata = (await client.send(_NODE_ID, MetadataRequest(None))).to_object()
    if metadata.get("cluster_id") != cluster_id or not any(
        broker.get("node_id") == _NODE_ID for broker in metadata.get("brokers", [])
    ):
        return False
    offsets_topic = next(
        (t for t in metadata.get("topics", []) if t.get("topic") == _OFFSETS_TOPIC), None
    )
    if offsets_topic is None:  # no consumer group has ever committed: nothing to load
        return True
    for group in _probe_group_ids(len(offsets_topic["partitions"])):
        response = await client.send(_NODE_ID, OffsetFetchRequest(group, None))
        if response.error_code:
            return False
    return True


async def _wait_until_ready(
    proc: subprocess.Popen[bytes], bootstrap: str, cluster_id: str, deadline: float
) -> None:
    """Retry :func:`_serves_as_ready` until it passes, the JVM dies or the deadline hits."""
    while True:
        if proc.poll() is not None:
            raise _BrokerExited(proc.returncode)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        attempt_timeout = max(0.5, min(5.0, remaining))
        client = AIOKafkaClient(
            bootstrap_servers=bootstrap,
            client_id="healthscore-local-kafka-probe",
            request_timeout_ms=int(attempt_timeout * 1000),
        )
        try:
            async with asyncio.timeout(attempt_timeout):
                await client.bootstrap()
                if await _serves_as_ready(client, cluster_id):
                    return
        except Exception:
            pass  # not ready yet (e.g. still electing itself); retry until the deadline
        finally:
            with contextlib.suppress(Exception):
                await client.close()
        await asyncio.sleep(0.1)


# Brokers still running at interpreter exit are stopped, so a forgotten stop() (or an
# exception before it) does not leave orphan JVMs behind.
_RUNNING: set[LocalKafka] = set()


@atexit.register
def _stop_running_brokers() -> None:
    for broker in list(_RUNNING):
        with contextlib.suppress(Exception):
            broker.stop()


class LocalKafka:
    """A single-node KRaft broker (combined broker + controller) in a child JVM.

    ``work_dir`` holds ``server.properties``, ``broker.log`` and the data.  When omitted, a
    private temp dir is used and deleted on a clean stop; a caller-supplied dir is never
    deleted (and, if already formatted, its data is reused).  If the broker fails to start
    or dies unexpectedly, the directory is kept (unless ``keep_logs_on_failure=False``) and
    its location is reported through ``progress``.
    """

    def __init__(
        self,
        work_dir: Path | None = None,
        *,
        partitions: int = 4,
        keep_logs_on_failure: bool = True,
        startup_timeout: float = 60.0,
        progress: Progress | None = None,
    ) -> None:
        if partitions < 1:
            raise ValueError("partitions must be >= 1")
        self._owns_work_dir = work_dir is None
        # Named now (created in start()) so log_path is known before the broker runs.
        self.work_dir = (
            Path(work_dir)
            if work_dir is not None
            else Path(tempfile.gettempdir()) / f"healthscore-kafka-{uuid.uuid4().hex[:12]}"
        )
        self.log_path = self.work_dir / "broker.log"
        self.partitions = partitions
        self.keep_logs_on_failure = keep_logs_on_failure
        self.startup_timeout = startup_timeout
        self._progress = progress or _stderr_progress
        self._proc: subprocess.Popen[bytes] | None = None
        self._java = ""
        self._libs: Path | None = None
        self._cluster_id = ""
        self._broker_port: int | None = None
        self._controller_port: int | None = None
        self._failed = False

    # -- public API --------------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        """``127.0.0.1:<port>``; stable across :meth:`restart`."""
        if self._broker_port is None:
            raise RuntimeError("LocalKafka has not been started")
        return f"{_HOST}:{self._broker_port}"

    @property
    def is_running(self) -> bool:
        """True while the broker JVM is alive (False after a crash or stop())."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> LocalKafka:
        """Resolve jars if needed, format storage, launch the JVM and wait until it serves
        metadata.  Raises :class:`KafkaLaunchError` (never leaves a JVM behind)."""
        if self._proc is not None:
            raise RuntimeError("LocalKafka is already started; use restart() or stop()")
        started = time.monotonic()
        self._failed = False
        self._java = _find_java()
        self._libs = ensure_kafka_jars(self._progress)
        try:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            self._write_text("log4j2.properties", _LOG4J2_PROPERTIES)
            self._cluster_id = self._existing_cluster_id() or ""
            deadline = time.monotonic() + self.startup_timeout
            for attempt in range(1, _PORT_ATTEMPTS + 1):
                self._broker_port, self._controller_port = _free_ports(2)
                self._write_server_properties()
                if not self._cluster_id:
                    self._format_storage(deadline)
                try:
                    self._launch_and_wait(deadline)
                    break
                except KafkaLaunchError:
                    # Someone took a port between our probe and the JVM's bind: retry.
                    if attempt == _PORT_ATTEMPTS or not self._lost_port_race():
                        raise
                    self._kill_quietly()
                    self._progress("port was taken before the broker bound it; retrying")
        except BaseException:
            self._abort()
            raise
        _RUNNING.add(self)
        self._progress(
            f"Kafka {kafka_version()} broker ready at {self.bootstrap_servers} in "
            f"{time.monotonic() - started:.1f} s (work dir {self.work_dir})"
        )
        return self

    def stop(self) -> None:
        """SIGTERM (orderly shutdown), SIGKILL after 20 s; then tidy up the work dir."""
        _RUNNING.discard(self)
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is not None:
                self._failed = True
                self._progress(f"Kafka broker had exited unexpectedly (exit {proc.returncode})")
            elif not self._terminate(proc):
                self._failed = True
        self._tidy_work_dir()

    def restart(self, *, kill: bool = False, downtime: float = 0.0) -> None:
        """Stop the broker and start it again on the same ports with the same data.

        ``kill=True`` sends SIGKILL instead of an orderly shutdown (simulates a crash);
        ``downtime`` keeps the broker down that many seconds before restarting.  Clients
        can keep their bootstrap string.  Works even if the broker had died.
        """
        if self._broker_port is None or self._libs is None:
            raise RuntimeError("restart() needs a broker that was started")
        _RUNNING.discard(self)
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            if kill:
                self._signal(proc, signal.SIGKILL)
                proc.wait()
            elif not self._terminate(proc):
                self._progress("broker needed SIGKILL during restart; data may need recovery")
        with contextlib.suppress(OSError):
            (self.work_dir / "broker.pid").unlink()
        if downtime > 0:
            time.sleep(downtime)
        started = time.monotonic()
        try:
            self._launch_and_wait(time.monotonic() + self.startup_timeout)
        except BaseException:
            self._abort()
            raise
        _RUNNING.add(self)
        self._progress(
            f"Kafka broker restarted at {self.bootstrap_servers} in "
            f"{time.monotonic() - started:.1f} s"
        )

    def __enter__(self) -> LocalKafka:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        port = self._broker_port or "-"
        state = "running" if self.is_running else "stopped"
        return f"<LocalKafka {_HOST}:{port} {state} work_dir={self.work_dir}>"

    # -- internals ---------------------------------------------------------------------

    @property
    def _data_dir(self) -> Path:
        return self.work_dir / "data"

    def _write_text(self, name: str, text: str) -> Path:
        path = self.work_dir / name
        path.write_text(text)
        return path

    def _existing_cluster_id(self) -> str | None:
        """Cluster id of already-formatted storage (caller-supplied work dir reuse)."""
        meta = self._data_dir / "meta.properties"
        if not meta.is_file():
            return None
        for line in meta.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "cluster.id" and value.strip():
                return value.strip()
        return None

    def _write_server_properties(self) -> None:
        broker, controller = self._broker_port, self._controller_port
        settings = {
            "process.roles": "broker,controller",
            "node.id": _NODE_ID,
            "controller.quorum.voters": f"{_NODE_ID}@{_HOST}:{controller}",
            "listeners": f"PLAINTEXT://{_HOST}:{broker},CONTROLLER://{_HOST}:{controller}",
            "advertised.listeners": f"PLAINTEXT://{_HOST}:{broker}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": self._data_dir,
            "num.partitions": self.partitions,
            "auto.create.topics.enable": "true",
            # One broker: every internal topic must be satisfiable with a single replica.
            "offsets.topic.replication.factor": 1,
            "transaction.state.log.replication.factor": 1,
            "transaction.state.log.min.isr": 1,
            "share.coordinator.state.topic.replication.factor": 1,
            "share.coordinator.state.topic.min.isr": 1,
            # Tests should not wait 3 s for the first consumer group to form.
            "group.initial.rebalance.delay.ms": 0,
            # After a crash (restart(kill=True)) the new incarnation cannot register until
            # the old session expires; 4.5 s instead of 9 s halves that stall while still
            # tolerating six missed heartbeats (GC pauses on a busy CI machine).
            "broker.session.timeout.ms": 4500,
            "broker.heartbeat.interval.ms": 750,
        }
        lines = [f"{key}={value}" for key, value in settings.items()]
        self._write_text("server.properties", "\n".join(lines) + "\n")

    def _java_cmd(self, main_class: str, *args: str) -> list[str]:
        assert self._libs is not None
        return [
            self._java,
            *_JVM_OPTS,
            f"-Dlog4j2.configurationFile={self.work_dir / 'log4j2.properties'}",
            "-cp",
            f"{self._libs}{os.sep}*",
            main_class,
            *args,
        ]

    def _log_banner(self, text: str) -> None:
        with self.log_path.open("a") as log:
            log.write(f"===== {time.strftime('%Y-%m-%d %H:%M:%S')} local_kafka: {text} =====\n")

    def _format_storage(self, deadline: float) -> None:
        """``kafka-storage format`` with a static quorum (controller.quorum.voters), which
        is why ``--standalone`` is not passed: Kafka 4.1 rejects it with static voters."""
        cluster_id = _random_cluster_id()
        config = str(self.work_dir / "server.properties")
        cmd = self._java_cmd("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", config)
        self._log_banner(f"formatting storage (cluster id {cluster_id})")
        try:
            with self.log_path.open("ab") as log:
                code = subprocess.run(
                    cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    timeout=max(1.0, min(_FORMAT_TIMEOUT_S, deadline - time.monotonic())),
                    check=False, cwd=self.work_dir,
                ).returncode  # fmt: skip
        except OSError as exc:
            raise self._error(f"could not execute java ({self._java!r}): {exc}") from exc
        except subprocess.TimeoutExpired:
            raise self._error("formatting the storage directory timed out") from None
        if code != 0:
            raise self._error(f"formatting the storage directory failed (exit {code})")
        self._cluster_id = cluster_id

    def _launch_and_wait(self, deadline: float) -> None:
        """Start ``kafka.Kafka`` in its own session (so a terminal Ctrl-C reaches only us
        and we can shut it down in order) and block until it serves metadata."""
        config = str(self.work_dir / "server.properties")
        self._log_banner(f"starting broker on {self.bootstrap_servers}")
        try:
            with self.log_path.open("ab") as log:
                self._proc = subprocess.Popen(
                    self._java_cmd("kafka.Kafka", config),
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    cwd=self.work_dir, start_new_session=True,
                )  # fmt: skip
        except OSError as exc:
            raise self._error(f"could not execute java ({self._java!r}): {exc}") from exc
        proc = self._proc
        self._write_text("broker.pid", f"{proc.pid}\n")
        bootstrap, cluster_id = self.bootstrap_servers, self._cluster_id
        try:
            self._wait_for_port(proc, deadline)
            _run_in_fresh_loop(lambda: _wait_until_ready(proc, bootstrap, cluster_id, deadline))
        except _BrokerExited as exc:
            raise self._error(f"the broker JVM exited during startup (exit {exc.code})") from None
        except TimeoutError:
            raise self._error(
                f"the broker was not ready within {self.startup_timeout:.0f} s"
            ) from None

    def _wait_for_port(self, proc: subprocess.Popen[bytes], deadline: float) -> None:
        """Cheap TCP poll first, so the Kafka client only talks to a listening broker
        (and does not log connection-refused errors while the JVM boots)."""
        assert self._broker_port is not None
        while True:
            if proc.poll() is not None:
                raise _BrokerExited(proc.returncode)
            if time.monotonic() >= deadline:
                raise TimeoutError
            try:
                with socket.create_connection((_HOST, self._broker_port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)

    def _lost_port_race(self) -> bool:
        return "Address already in use" in _tail(self.log_path, 200)

    def _error(self, reason: str) -> KafkaLaunchError:
        return KafkaLaunchError(
            f"Kafka broker failed to start: {reason}.\nBroker log: {self.log_path}\n"
            f"--- last {_LOG_TAIL_LINES} lines of {self.log_path} ---\n{_tail(self.log_path)}",
            self.log_path,
        )

    @staticmethod
    def _signal(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        # The JVM leads its own process group, so signal the group (nothing escapes).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)

    def _terminate(self, proc: subprocess.Popen[bytes]) -> bool:
        """Orderly shutdown; returns False if SIGKILL was needed or the exit was unclean."""
        self._signal(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._progress(f"broker ignored SIGTERM for {_STOP_TIMEOUT_S:.0f} s; sending SIGKILL")
            self._signal(proc, signal.SIGKILL)
            proc.wait()
            return False
        return proc.returncode in _CLEAN_EXIT_CODES

    def _kill_quietly(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            self._signal(proc, signal.SIGKILL)
            proc.wait()

    def _abort(self) -> None:
        """Startup failed or was interrupted: kill the JVM and keep the evidence."""
        self._kill_quietly()
        self._failed = True
        self._tidy_work_dir()

    def _tidy_work_dir(self) -> None:
        with contextlib.suppress(OSError):
            (self.work_dir / "broker.pid").unlink()
        if self._failed and self.keep_logs_on_failure:
            if self.log_path.exists():
                self._progress(f"Kafka broker logs kept at {self.log_path}")
        elif self._owns_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)


@contextlib.contextmanager
def broker_from_env_or_local(
    *,
    partitions: int = 4,
    startup_timeout: float = 60.0,
    progress: Progress | None = None,
) -> Iterator[str]:
    """Yield bootstrap servers: ``$KAFKA_BOOTSTRAP_SERVERS`` if set (nothing is started,
    so CI or a developer can point tests at an existing cluster), else a fresh LocalKafka
    that is stopped on exit."""
    existing = os.environ.get(BOOTSTRAP_ENV, "").strip()
    if existing:
        yield existing
        return
    with LocalKafka(
        partitions=partitions, startup_timeout=startup_timeout, progress=progress
    ) as kafka:
        yield kafka.bootstrap_servers


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.local_kafka",
        description=(
            f"Run a single-node Apache Kafka {kafka_version()} broker (KRaft, combined "
            "broker+controller) in the foreground from the official jars. Needs Java 17+; "
            "Maven is used once to download the jars into "
            f"${CACHE_ENV} (default ~/.cache/healthscore)."
        ),
        epilog=(
            f"Prints '{BOOTSTRAP_ENV}=127.0.0.1:PORT' on stdout once the broker answers "
            "metadata requests; progress and errors go to stderr. Stop with Ctrl-C or "
            f"SIGTERM. Example: export the printed line, then run the app. Set {JAVA_ENV} "
            "to choose the java executable."
        ),
    )
    parser.add_argument(
        "--partitions", type=int, default=4, metavar="N",
        help="default partition count of auto-created topics (default: 4)",
    )  # fmt: skip
    parser.add_argument(
        "--work-dir", type=Path, default=None, metavar="DIR",
        help="keep config, broker.log and data here; data is reused on the next run "
        "(default: a temp dir deleted on clean shutdown)",
    )  # fmt: skip
    parser.add_argument(
        "--startup-timeout", type=float, default=60.0, metavar="SECONDS",
        help="give up if the broker is not ready in time (default: 60)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.partitions < 1:
        parser.error("--partitions must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: run a broker until Ctrl-C/SIGTERM; exit 1 if it fails or dies."""
    args = _parse_args(argv)

    def on_sigterm(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    kafka = LocalKafka(
        args.work_dir, partitions=args.partitions, startup_timeout=args.startup_timeout
    )
    status = 0
    try:
        kafka.start()
        print(f"{BOOTSTRAP_ENV}={kafka.bootstrap_servers}", flush=True)
        _stderr_progress(f"logs: {kafka.log_path} — press Ctrl-C to stop")
        while kafka.is_running:
            time.sleep(0.5)
        _stderr_progress(f"the broker exited unexpectedly; see {kafka.log_path}")
        status = 1
    except KeyboardInterrupt:
        _stderr_progress("shutting down…")
    except KafkaLaunchError as exc:
        _stderr_progress(str(exc))
        status = 1
    finally:
        # A second Ctrl-C must not abort the orderly shutdown and orphan the JVM.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        kafka.stop()
    return status


if __name__ == "__main__":
    sys.exit(main())
