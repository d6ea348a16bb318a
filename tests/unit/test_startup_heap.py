"""Every service process freezes the objects it starts with (services/common/heap.py), unless
its config says not to."""
import gc
import weakref

import pytest
from nameko.extensions import DependencyProvider

from gateway.service import GatewayService
from services.booking.service import BookingService
from services.common.heap import FrozenStartupHeap
from services.integration.service import IntegrationService
from services.notifications.service import NotificationsService
from services.payments.service import PaymentsService


@pytest.fixture
def collector_held():
    """No automatic collection during the test; the test process's objects go back to the
    collector after it."""
    gc.disable()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.enable()


class Node:
    pass


class Container:   # what the provider reads of its container
    def __init__(self, config):
        self.config = config


def start_heap(config):
    container = Container(config)   # a bound extension holds it by a weak reference
    FrozenStartupHeap().bind(container, "startup_heap").start()


def collector_sees(thing):
    return any(o is thing for o in gc.get_objects())


def test_what_is_alive_at_start_leaves_the_collectors_generations(collector_held):
    kept = {"schemas": [1, 2]}
    assert collector_sees(kept)
    start_heap({"FREEZE_STARTUP_HEAP": True})
    assert gc.get_freeze_count() > 1000     # modules, classes, functions, this test's objects
    assert not collector_sees(kept)
    made_after = {"request": [3]}
    assert collector_sees(made_after)


def test_garbage_is_collected_first_not_frozen(collector_held):
    cycle = Node()
    cycle.itself = cycle
    ref = weakref.ref(cycle)
    del cycle
    assert ref() is not None                # only the cyclic collector can free it
    start_heap({"FREEZE_STARTUP_HEAP": True})
    assert ref() is None


@pytest.mark.parametrize("value", [False, "false", "0"])
def test_the_config_turns_it_off(collector_held, value):
    start_heap({"FREEZE_STARTUP_HEAP": value})
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize("service", [GatewayService, BookingService, PaymentsService,
                                     IntegrationService, NotificationsService])
def test_every_service_declares_it(service):
    providers = [getattr(service, name) for name in dir(service) if not name.startswith("__")]
    assert any(isinstance(p, FrozenStartupHeap) for p in providers
               if isinstance(p, DependencyProvider))
