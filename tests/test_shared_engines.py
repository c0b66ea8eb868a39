"""The registry that lets agents of one model share its engine: built once, counted, freed by the last."""

import threading
import time

import pytest

from lwd.agents.shared import Shared


def test_many_agents_asking_at_once_build_one_engine():
    shared: Shared[object] = Shared()
    built = []

    def build():
        time.sleep(0.05)  # a slow load: the others must wait for it, not load their own
        built.append(object())
        return built[-1]

    got = []
    threads = [threading.Thread(target=lambda: got.append(shared.acquire("m", build))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(built) == 1 and all(g is built[0] for g in got) and shared.holders("m") == 8
    for _ in range(7):
        shared.release("m")
    assert shared.holders("m") == 1 and len(shared) == 1
    shared.release("m")
    assert shared.holders("m") == 0 and len(shared) == 0
    assert shared.acquire("m", build) is not built[0]  # loaded again after the last let go


def test_a_failed_build_leaves_nothing_and_other_keys_are_separate():
    shared: Shared[str] = Shared()
    with pytest.raises(OSError):
        shared.acquire("bad", lambda: (_ for _ in ()).throw(OSError("corrupt")))
    assert len(shared) == 0
    assert shared.acquire("a", lambda: "A") == "A" and shared.acquire("b", lambda: "B") == "B"
    assert shared.acquire("a", lambda: "other") == "A"
