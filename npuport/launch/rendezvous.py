"""Reachability of the master (or rendezvous endpoint) and free ports, so a lost node fails fast and clearly.

    python -m npuport.launch.rendezvous wait HOST PORT [--timeout S] [--node N]

exits 0 once HOST:PORT accepts a TCP connection, or 1 with a one-line message after S seconds.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time

from ..errors import CheckFailed


def resolve(host: str) -> list[str]:
    """The addresses `host` resolves to ([] when it does not)."""
    try:
        return sorted({info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)})
    except (socket.gaierror, UnicodeError):
        return []


def is_local(host: str) -> bool:
    """True when `host` is this machine: loopback, or an address one of this machine's names resolves to."""
    addrs = resolve(host)
    if any(a.startswith("127.") or a == "::1" for a in addrs):
        return True
    mine = set(resolve(socket.gethostname())) | set(resolve(socket.getfqdn()))
    return bool(set(addrs) & mine)


def port_free(port: int, host: str = "") -> bool:
    """True when a listening socket could bind `host:port` now ('' = every address)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def try_connect(host: str, port: int, timeout: float) -> str:
    """'' when a TCP connection to host:port opens within `timeout`, else why not."""
    try:
        with socket.create_connection((host, port), timeout=max(0.1, timeout)):
            return ""
    except socket.gaierror as exc:
        return f"cannot resolve {host} ({exc.strerror or exc})"
    except socket.timeout:
        return "no answer (timed out)"
    except OSError as exc:
        return exc.strerror or str(exc)


def wait_for(host: str, port: int, timeout: float, who: str = "this node", interval: float = 0.5) -> float:
    """Wait until host:port accepts connections; seconds waited. Raises CheckFailed at the deadline."""
    start = time.monotonic()
    deadline = start + timeout
    why = ""
    while True:
        why = try_connect(host, port, min(2.0, max(deadline - time.monotonic(), 0.1)))
        if not why:
            return time.monotonic() - start
        left = deadline - time.monotonic()
        if why.startswith("cannot resolve") or left <= 0:
            break
        time.sleep(min(interval, left))
    raise CheckFailed(
        f"{who} cannot reach the master at {host}:{port} within {timeout:g} s ({why}): start node 0 first with the "
        f"same --master-addr/--master-port, check that {host} is node 0's address as seen from here and that TCP "
        f"port {port} is open between the nodes (firewall); --connect-timeout sets the wait")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m npuport.launch.rendezvous")
    sub = parser.add_subparsers(dest="cmd", required=True)
    wait = sub.add_parser("wait", help="wait until HOST:PORT accepts a TCP connection")
    wait.add_argument("host")
    wait.add_argument("port", type=int)
    wait.add_argument("--timeout", type=float, default=60.0)
    wait.add_argument("--node", default="this node")
    ns = parser.parse_args(argv)
    try:
        wait_for(ns.host, ns.port, ns.timeout, ns.node)
    except CheckFailed as exc:
        print(f"npuport: error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
