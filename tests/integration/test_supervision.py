"""The running system as `make run` keeps it: a killed process comes back by itself and
nothing sent meanwhile is lost; a second booking process shares the work and doubles none."""
import os
import signal
import time

from scripts.system import Restarts
from tests.amqp import wait_until
from tests.integration.integration_flow import all_events, book_many, make_hall


def cpu_seconds(pid):
    """utime + stime of a process, from the kernel."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_killed_consumer_is_restarted_and_handles_what_came_while_it_was_dead(
        api, operator, system):
    restarts = Restarts(system)
    old_pid = system.processes["integration"].pid
    os.kill(old_pid, signal.SIGKILL)
    wait_until(lambda: system.processes["integration"].poll() is not None, 10)
    # events published while nobody consumes them wait in the durable queue
    bookings = book_many(api, make_hall(operator), 3)
    said = []
    deadline = time.monotonic() + 30
    while "integration restarted" not in said and time.monotonic() < deadline:
        said += restarts.check()
        time.sleep(0.2)
    assert said[-1] == "integration restarted", said
    assert said[0].startswith("integration died (exit -9)")
    assert system.processes["integration"].pid != old_pid
    ids = {b["id"] for b in bookings}

    def logged():
        return {e["booking_id"] for e in all_events(operator, type="booking.created")} & ids
    assert wait_until(lambda: logged() == ids, 60)
    assert operator.integration.ping() == "pong"


def test_two_booking_processes_share_the_work_and_double_nothing(api, operator, system):
    system.start("booking-2")
    try:
        assert wait_until(lambda: system.processes["booking-2"].poll() is None
                          and _booking_consumers(operator), 30)
        time.sleep(2)        # both consume the RPC queue now
        pids = {name: system.processes[name].pid for name in ("booking", "booking-2")}
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        hall = make_hall(operator)
        bookings = book_many(api, hall, 40)
        spent = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
        total = sum(spent.values())
        print(f"CPU of 40 bookings: {spent}")
        assert all(each >= 0.2 * total for each in spent.values()), spent
        ids = {b["id"] for b in bookings}
        listed = operator.booking.list_bookings(hall_id=hall["id"], limit=100)["items"]
        assert sorted(b["id"] for b in listed) == sorted(ids)       # each made once

        def created_events():
            return [e for e in all_events(operator, type="booking.created")
                    if e["booking_id"] in ids]
        wait_until(lambda: len(created_events()) >= 40, 30)
        time.sleep(1)
        assert len(created_events()) == 40                         # each announced once
    finally:
        system.stop("booking-2")


def _booking_consumers(operator):
    try:
        return operator.booking.ping() == "pong"
    except Exception:
        return False
