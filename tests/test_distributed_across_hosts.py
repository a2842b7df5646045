"""md.distributed across two hosts (issue 19 item 3, "across hosts"): the collectives checks of
tests/mpi_workers/collectives_worker.py with the ranks in two network namespaces joined by a
veth pair (tests/_mpi_netns.py), so MPI moves the data over TCP, started by MPI's own launcher;
and a failing rank ending the ranks on the other host. Skips, saying why, where the machine
cannot create network namespaces."""
from __future__ import annotations

import re
import subprocess

import pytest

from conftest import require
from _mpi_launch import WORKERS
from _mpi_netns import TwoHosts, two_hosts  # noqa: F401  (two_hosts: a fixture)


@pytest.mark.slow  # an MPI launch across namespaces: ~3 s on 2 busy cores
def test_collectives_match_numpy_across_two_hosts_over_tcp(two_hosts):  # noqa: F811
    sent_before, received_before = two_hosts.veth_bytes()
    result = two_hosts.run(WORKERS / "collectives_worker.py", nproc=2, print_hosts="1")
    assert result.returncode == 0, result.stdout
    done = re.findall(r"DONE (\d+) (\d+)", result.stdout)
    assert len(done) == 2 and all(failed == "0" for _, failed in done), result.stdout
    hosts = set(re.findall(r"HOST rank \d+ on (mdl\d+[ab])", result.stdout))
    assert hosts == set(two_hosts.namespaces), result.stdout  # one rank on each host
    sent, received = two_hosts.veth_bytes()
    # the worker's largest all-reduce alone is 100003 float64 values (800 kB) each way: the data
    # went over the veth link, not through shared memory (then only ~16 kB of control traffic)
    assert sent - sent_before > 800_000 and received - received_before > 800_000, (sent, received)


@pytest.mark.slow  # an MPI launch across namespaces
def test_an_uncaught_exception_on_one_host_ends_the_ranks_on_the_other(two_hosts):  # noqa: F811
    """Rank 1 (host B) raises while rank 0 (host A) waits in a barrier: MPI_Abort reaches across
    the link and the launch ends with an error, as on one machine."""
    result = two_hosts.run(WORKERS / "abort_worker.py", nproc=2, timeout=60)
    assert result.returncode != 0, result.stdout
    assert "RuntimeError: rank 1 fails on purpose" in result.stdout and "aborting all 2 ranks" in result.stdout
    assert "passed the barrier" not in result.stdout


def test_without_the_right_to_make_namespaces_the_harness_skips_saying_so(tmp_path, monkeypatch):
    """A container without CAP_NET_ADMIN: `ip netns add` fails, the across-hosts tests skip and say why."""
    require("mpi4py")  # without it the harness skips earlier, naming the extra
    hosts = TwoHosts(tmp_path)
    refused = subprocess.CompletedProcess(["ip"], 1, "", 'mkdir /run/netns failed: Permission denied')
    monkeypatch.setattr(hosts, "_ip", lambda *args: refused)
    with pytest.raises(pytest.skip.Exception, match="cannot create network namespaces .*Permission denied"):
        hosts.create()
