#!/usr/bin/python3
"""A one-shot ZooKeeper client for the docker tests (kazoo, Debian's python3-kazoo).

    zk_client.py HOSTS put PATH VALUE     create PATH (and parents) or set it; print its version
    zk_client.py HOSTS get PATH           print PATH's data
    zk_client.py HOSTS check PATH VALUE   exit 1 unless PATH holds VALUE

HOSTS is kazoo's connect string, e.g. 127.0.0.1:2181. Every call is bounded in time.
"""

import logging
import sys

from kazoo.client import KazooClient
from kazoo.exceptions import NodeExistsError


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    hosts, op, path = sys.argv[1], sys.argv[2], sys.argv[3]
    zk = KazooClient(hosts=hosts, timeout=10.0, connection_retry={"max_tries": 3})
    zk.start(timeout=15)
    try:
        if op == "put":
            value = sys.argv[4].encode()
            try:
                zk.create(path, value, makepath=True)
            except NodeExistsError:
                zk.set(path, value)
            print(zk.get(path)[1].version)
        elif op == "get":
            print(zk.get(path)[0].decode())
        elif op == "check":
            got = zk.get(path)[0].decode()
            if got != sys.argv[4]:
                print(f"{path}: expected {sys.argv[4]!r}, got {got!r}", file=sys.stderr)
                return 1
        else:
            print(__doc__, file=sys.stderr)
            return 2
    finally:
        zk.stop()
        zk.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
