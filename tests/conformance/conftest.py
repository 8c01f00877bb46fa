import pytest


@pytest.fixture(params=["server", "client"])
def role(request):
    """Which picows_like side is under test: "server" (raw client peer) or
    "client" (raw server peer)."""
    return request.param
