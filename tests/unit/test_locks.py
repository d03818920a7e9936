"""The pod census lock: one holder at a time per cluster, across threads and processes of this machine."""

from __future__ import annotations

import threading
import time
import uuid

from pytest_k8sharden.locks import census_lock


def test_census_lock_keeps_a_second_holder_waiting_until_the_first_is_done() -> None:
    server = f"https://{uuid.uuid4().hex}.example:6443"
    order: list[str] = []

    def second() -> None:
        with census_lock(server):
            order.append("second holds it")

    with census_lock(server):
        waiting = threading.Thread(target=second)
        waiting.start()
        time.sleep(0.3)
        order.append("first lets go")
    waiting.join(timeout=5)
    assert order == ["first lets go", "second holds it"]


def test_census_locks_of_different_clusters_do_not_wait_for_each_other() -> None:
    done = threading.Event()

    def other_cluster() -> None:
        with census_lock(f"https://{uuid.uuid4().hex}.example:6443"):
            done.set()

    with census_lock(f"https://{uuid.uuid4().hex}.example:6443"):
        threading.Thread(target=other_cluster).start()
        assert done.wait(timeout=5)
