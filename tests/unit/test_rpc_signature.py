"""An RPC called with arguments its method does not take is refused before a worker runs
(services.common.rpc._TransientRpc.check_signature, nameko's check with the signature read
once)."""
import pytest
from nameko.exceptions import IncorrectSignature

from services.common.rpc import _TransientRpc, rpc


class Service:
    name = "example"

    @rpc
    def create_booking(self, booking, request_id=None, client_ip=None):
        return booking


class Container:
    service_cls = Service


def entrypoint():
    bound = _TransientRpc()
    bound.container, bound.method_name = Container(), "create_booking"
    return bound


@pytest.mark.parametrize("args, kwargs", [
    (({"hall_id": 1},), {}),
    (({"hall_id": 1}, "key"), {"client_ip": "10.0.0.1"}),
    ((), {"booking": {}, "request_id": None}),
])
def test_the_arguments_the_method_takes_pass(args, kwargs):
    check = entrypoint()
    check.check_signature(args, kwargs)
    check.check_signature(args, kwargs)   # the signature read once serves every call


@pytest.mark.parametrize("args, kwargs, says", [
    ((), {}, "missing a required argument: 'booking'"),
    (({}, "key", "10.0.0.1", "more"), {}, "too many positional arguments"),
    (({},), {"held": True}, "got an unexpected keyword argument 'held'"),
    (({},), {"booking": {}}, "multiple values for argument 'booking'"),
])
def test_other_arguments_are_an_incorrect_signature_naming_the_method(args, kwargs, says):
    with pytest.raises(IncorrectSignature) as refused:
        entrypoint().check_signature(args, kwargs)
    assert str(refused.value) == f"create_booking(): {says}"
