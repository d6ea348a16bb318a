"""make run's supervisor (scripts.system.Restarts) against a stand-in system and clock."""
from scripts.system import Restarts, instance_names, service_of


class Process:
    def __init__(self):
        self.returncode = None


class FakeSystem:
    def __init__(self, clock):
        self.clock = clock
        self.processes, self.started_at, self.starts = {}, {}, []
        self.start("booking")

    def start(self, name):
        self.processes[name] = Process()
        self.started_at[name] = self.clock()
        self.starts.append((name, self.clock()))

    def stop(self, name):
        self.processes.pop(name, None)

    def died(self):
        return [n for n, p in self.processes.items() if p.returncode is not None]

    def kill(self, name):
        self.processes[name].returncode = -9


class Clock:
    now = 1000.0

    def __call__(self):
        return self.now


def test_a_process_that_ran_long_is_restarted_at_once():
    clock = Clock()
    system = FakeSystem(clock)
    restarts = Restarts(system, clock)
    clock.now += 3600
    system.kill("booking")
    said = restarts.check()
    assert said == ["booking died (exit -9) after 3600 s; restarting now", "booking restarted"]
    assert system.starts[-1] == ("booking", clock.now)


def test_a_process_that_keeps_dying_waits_longer_each_time_up_to_30_s():
    clock = Clock()
    system = FakeSystem(clock)
    restarts = Restarts(system, clock)
    waits = []
    for _ in range(8):
        clock.now += 1
        system.kill("booking")
        died_at = clock.now
        restarts.check()
        while system.starts[-1][1] < died_at or len(system.died()):
            clock.now += 0.5
            restarts.check()
        waits.append(system.starts[-1][1] - died_at)
    assert waits == [1, 2, 4, 8, 16, 30, 30, 30]


def test_after_a_stable_minute_the_backoff_starts_over():
    clock = Clock()
    system = FakeSystem(clock)
    restarts = Restarts(system, clock)
    for _ in range(3):
        clock.now += 1
        system.kill("booking")
        restarts.check()
        clock.now += 30
        restarts.check()
    clock.now += 120
    system.kill("booking")
    assert restarts.check()[-1] == "booking restarted"


def test_instances_of_a_service_are_named_after_it():
    assert instance_names("booking", 3) == ["booking", "booking-2", "booking-3"]
    assert [service_of(n) for n in ("booking", "booking-2", "gateway")] == \
        ["booking", "booking", "gateway"]
