"""The desktop backend is chosen by name and imported only when chosen; building one connects
to nothing."""

from __future__ import annotations

import pytest
from host_agent.collectors.desktop.backend import BACKENDS, DisplayUnavailable, create_backend
from host_agent.collectors.desktop.x11 import X11Desktop


@pytest.mark.parametrize("name", ["auto", "x11"])
def test_auto_and_x11_give_the_x11_backend_without_connecting(name):
    backend = create_backend(name, ":4711")  # no X server there: nothing is opened yet
    assert isinstance(backend, X11Desktop)
    assert not backend.connected
    assert backend.label == "X display :4711"


def test_opening_without_a_display_says_so():
    with pytest.raises(DisplayUnavailable, match="no X display"):
        create_backend("auto", None).open()


def test_every_backend_name_the_config_accepts_has_a_module():
    from host_agent.core.config import DesktopMonitorSection

    accepted = DesktopMonitorSection.model_fields["backend"].annotation.__args__
    assert set(accepted) - {"auto"} == set(BACKENDS)
