"""Checks made before Spark starts, so that a mistake gets a one-line answer instead of a
JVM stack trace or a minute's wait: Java present and recent enough, a well-formed master
URL, a reachable standalone master, memory settings Spark can parse."""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess

from mli.errors import JavaNotFoundError

__all__ = ["JAVA_HELP", "check_java", "check_master", "check_conf_value", "check_reachable"]

JAVA_HELP = (
    "Java 17 or newer is required to run Spark (mli's engine) but {what}. Install it, e.g. "
    "'sudo apt-get install openjdk-17-jre-headless' (Debian/Ubuntu), 'brew install openjdk@17' "
    "(macOS) or from https://adoptium.net, then set JAVA_HOME or put 'java' on PATH."
)


def check_java() -> str:
    """Return the java executable, or raise :class:`JavaNotFoundError` with install help."""
    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    if not java or not os.path.exists(java):
        what = (f"JAVA_HOME={java_home} has no bin/java" if java_home
                else "no 'java' was found on PATH and JAVA_HOME is not set")
        raise JavaNotFoundError(JAVA_HELP.format(what=what))
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
        text = out.stderr + out.stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise JavaNotFoundError(JAVA_HELP.format(what=f"'{java}' could not run ({exc})")) from None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if m:
        major = int(m.group(1))
        if major == 1 and m.group(2):
            major = int(m.group(2))
        if major < 17:
            raise JavaNotFoundError(JAVA_HELP.format(what=f"'{java}' is Java {major}"))
    return java


_LOCAL_MASTER = re.compile(r"local(\[(\d+|\*)(,\s*\d+)?\])?|local-cluster\[\d+,\s*\d+,\s*\d+\]")
_MASTER_FORMS = ("'local', 'local[N]', 'local[*]', 'local[N,maxFailures]', "
                 "'spark://host:port', 'yarn', 'k8s://https://host:port'")
_MEMORY = re.compile(r"\d+\s*([kmgtp]i?b?|b)?", re.IGNORECASE)


def check_master(master: str) -> None:
    """ValueError, before any JVM starts, for a master URL Spark would refuse with a Java
    stack trace (``local[abc]``, a typo in the scheme)."""
    if master.startswith("local"):
        if not _LOCAL_MASTER.fullmatch(master):
            raise ValueError(f"master={master!r} is not a valid local master: use 'local', "
                             "'local[N]' (N threads), 'local[*]' (one per core) or "
                             "'local[N,maxFailures]'")
        return
    if master == "yarn" or master.startswith(("k8s://", "mesos://")):
        return
    if master.startswith("spark://"):
        for hp in master[len("spark://"):].split(","):
            host, _, port = hp.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"master={master!r}: a standalone master is "
                                 "'spark://host:port' (port a number, e.g. 7077)")
        return
    raise ValueError(f"master={master!r} is not a Spark master URL; expected one of "
                     f"{_MASTER_FORMS}")


def check_conf_value(key: str, value: str) -> None:
    """ValueError for a memory setting Spark cannot parse (``spark.driver.memory='lots'``),
    which would otherwise surface as a JVM that did not start."""
    if key.lower().endswith((".memory", ".memoryoverhead", "maxresultsize")) \
            and not _MEMORY.fullmatch(value.strip()):
        raise ValueError(f"Spark setting {key}={value!r} is not a memory size: use a number "
                         "with a unit, e.g. '512m' or '4g'")


def check_reachable(master: str, timeout: float = 5.0) -> None:
    """ConnectionError at once when no standalone master of ``spark://h1:p1,h2:p2`` accepts
    a TCP connection (Spark itself retries for about a minute, then reports a JVM error)."""
    if not master.startswith("spark://"):
        return
    errors = []
    for hp in master[len("spark://"):].split(","):
        host, _, port = hp.rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=timeout):
                return
        except OSError as exc:
            errors.append(f"{host}:{port} ({exc.strerror or exc})")
    raise ConnectionError(f"cannot reach the Spark master {master}: {'; '.join(errors)}. Is "
                          "the master running, and is this address the one it listens on?")
