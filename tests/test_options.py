"""The connection options have one definition of their defaults."""
import dataclasses
import inspect

import pytest

from picows_like import ws_connect, ws_create_server
from picows_like._options import (CLIENT_DEFAULTS, MIN_READ_BUFFER_INIT_SIZE, OPTION_NAMES,
                                  SERVER_DEFAULTS, options_from, protocol_options)


@pytest.mark.parametrize("function, defaults", [(ws_connect, CLIENT_DEFAULTS),
                                                (ws_create_server, SERVER_DEFAULTS)])
def test_signature_defaults_are_the_single_source(function, defaults):
    params = inspect.signature(function).parameters
    for name in OPTION_NAMES:
        assert params[name].default == getattr(defaults, name), name


def test_option_names_are_protocol_options_keywords():
    keywords = {name for name, p in inspect.signature(protocol_options).parameters.items()
                if p.kind is p.KEYWORD_ONLY}
    assert keywords == set(OPTION_NAMES)


@pytest.mark.parametrize("ours, name", [(ws_connect, "ws_connect"),
                                        (ws_create_server, "ws_create_server")])
def test_defaults_match_picows(ours, name):
    picows = pytest.importorskip("picows")
    theirs = inspect.signature(getattr(picows, name)).parameters
    for option in OPTION_NAMES:
        if option in theirs:
            assert inspect.signature(ours).parameters[option].default == \
                theirs[option].default, option


def test_small_read_buffer_is_raised_to_the_minimum_as_picows_does():
    values = dataclasses.asdict(CLIENT_DEFAULTS)
    values["read_buffer_init_size"] = 1
    assert options_from(values)["read_buffer_init_size"] == MIN_READ_BUFFER_INIT_SIZE
    values["read_buffer_init_size"] = 0
    with pytest.raises(ValueError, match="read_buffer_init_size"):
        options_from(values)
