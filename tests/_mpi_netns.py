"""Two hosts on one machine: MPI ranks in two network namespaces joined by a veth pair, started
by MPI's own launcher (Hydra), so the ranks talk TCP over a network link, as across machines.

    from _mpi_netns import two_hosts           # a pytest fixture (skips where it cannot work)

    def test_across_hosts(two_hosts):
        result = two_hosts.run(WORKERS / "my_worker.py", nproc=2, args=["--steps", "3"])
        assert result.returncode == 0, result.stdout
        assert two_hosts.veth_bytes()[0] > 1e6  # really sent over the link

The layout: namespace ``A`` (host address 10.213.0.1) and namespace ``B`` (10.213.0.2), each with
its own hostname (a UTS namespace: MPICH tells hosts apart by name), joined by a veth pair.
``mpiexec`` runs in A; Hydra starts its proxy on B through ``launcher-exec``: a script that, as
``ssh B cmd`` would, runs ``cmd`` in B (``ip netns exec B``); the proxy connects back to mpiexec
at 10.213.0.1. Ranks are placed A, B, A, B... in blocks (``-hosts A:k,B:m``).

The network module: MPICH's default here, UCX, sees one kernel (the same boot id) behind both
namespaces and moves the data through shared memory / cross-memory attach, the veth idle
(measured: 16 MB all-reduced, 16 kB on the veth). Restricted to TCP (``UCX_TLS=tcp,self``) it
used the veth but hung in 3 of 6 launches of the collectives checks on this machine; MPICH's other
module, libfabric (``MPIR_CVAR_CH4_NETMOD=ofi``) with its TCP provider (``FI_PROVIDER=tcp``),
passed 16 of 16 and carries the data over the veth: NETWORK_ENV, what ``run`` sets.

Creating namespaces needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN), ``ip`` (iproute2) and
``unshare`` (util-linux); without them the fixture skips and says which is missing.
"""
from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys

import pytest

from _mpi_launch import launch, mpi_env, mpiexec

SUBNET = "10.213.0"
NETWORK_ENV = {"MPIR_CVAR_CH4_NETMOD": "ofi", "FI_PROVIDER": "tcp"}
_serial = itertools.count()

# Hydra calls it as ``ssh`` ([options] host command): skip the options, enter the host's namespace
# with its own hostname, and run the command through a shell, as sshd would.
LAUNCHER = """#!/bin/sh
while [ "${1#-}" != "$1" ]; do shift; done
host="$1"; shift
case "$host" in
%s
  *) echo "launcher-exec: unknown host $host" >&2; exit 1;;
esac
exec ip netns exec "$ns" unshare --uts sh -c "hostname $ns; $*"
"""


class TwoHosts:
    """Two network namespaces joined by a veth pair, and an MPI launch across them."""

    def __init__(self, tmp_dir):
        tag = f"{os.getpid()}{next(_serial)}"[-8:]
        self.namespaces = [f"mdl{tag}a", f"mdl{tag}b"]  # also the interface and host names (<= 15 chars)
        self.addresses = [f"{SUBNET}.1", f"{SUBNET}.2"]
        self.launcher = os.path.join(str(tmp_dir), "netns_launcher.sh")

    def _ip(self, *args):
        return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)

    def create(self) -> None:
        """Make the namespaces, the veth pair and the addresses; skip (naming why) where not allowed."""
        mpiexec()  # skips, naming the extra, without mpi4py and MPICH
        for tool, package in (("ip", "iproute2"), ("unshare", "util-linux")):
            if shutil.which(tool) is None:
                pytest.skip(f"two hosts need `{tool}` (apt-get install {package})")
        made = self._ip("netns", "add", self.namespaces[0])
        if made.returncode != 0:
            pytest.skip(f"this machine cannot create network namespaces (root with CAP_NET_ADMIN is needed): "
                        f"ip netns add: {made.stderr.strip()}")
        a, b = self.namespaces
        steps = [("netns", "add", b), ("link", "add", a, "type", "veth", "peer", "name", b)]
        for ns, address in zip(self.namespaces, self.addresses):
            steps += [("link", "set", ns, "netns", ns), ("-n", ns, "addr", "add", f"{address}/24", "dev", ns),
                      ("-n", ns, "link", "set", ns, "up"), ("-n", ns, "link", "set", "lo", "up")]
        for step in steps:
            done = self._ip(*step)
            if done.returncode != 0:
                self.destroy()
                raise RuntimeError(f"ip {' '.join(step)}: {done.stderr.strip()}")
        cases = "\n".join(f'  {addr}) ns={ns};;' for addr, ns in zip(self.addresses, self.namespaces))
        with open(self.launcher, "w") as f:
            f.write(LAUNCHER % cases)
        os.chmod(self.launcher, 0o755)

    def destroy(self) -> None:
        """Delete both namespaces (their veth ends go with them); harmless if already gone."""
        for ns in self.namespaces:
            self._ip("netns", "del", ns)

    def veth_bytes(self):
        """(bytes sent, bytes received) so far by host A's end of the link."""
        stats = self._ip("-n", self.namespaces[0], "-s", "-j", "link", "show", self.namespaces[0])
        link = json.loads(stats.stdout)[0]["stats64"]
        return link["tx"]["bytes"], link["rx"]["bytes"]

    def command(self, script, nproc: int, args=()) -> list:
        """The command that starts ``nproc`` ranks of ``script``: mpiexec, run in host A under A's
        hostname, told A's address, its proxy on B started by the launcher script."""
        first = (nproc + 1) // 2
        hosts = f"{self.addresses[0]}:{first},{self.addresses[1]}:{nproc - first}"
        return ["ip", "netns", "exec", self.namespaces[0], "unshare", "--uts", "--", "sh", "-c",
                'hostname "$0"; exec "$@"', self.namespaces[0],
                mpiexec(), "-launcher", "ssh", "-launcher-exec", self.launcher, "-localhost", self.addresses[0],
                "-hosts", hosts, "-n", str(nproc), sys.executable, str(script), *map(str, args)]

    def run(self, script, nproc: int = 2, args=(), timeout: float = 120, **env):
        """Run ``script`` on ``nproc`` ranks across the two hosts (at least one on each), with
        NETWORK_ENV and ``env`` added to the environment; the CompletedProcess (stdout and stderr
        together). A hang fails the test after ``timeout``."""
        if nproc < 2:
            raise ValueError(f"two hosts need at least 2 ranks, got {nproc}")
        result, _ = launch(self.command(script, nproc, args), timeout, mpi_env(**{**NETWORK_ENV, **env}))
        return result


@pytest.fixture
def two_hosts(tmp_path):
    """A TwoHosts ready to run launches; torn down after the test, whatever happened."""
    hosts = TwoHosts(tmp_path)
    hosts.create()
    try:
        yield hosts
    finally:
        hosts.destroy()
