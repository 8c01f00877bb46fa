"""In-repo conformance suite modelled on the Autobahn testsuite (sections 1-7,
plus the limit cases of 9 and 10 at sizes that fit a small machine).

Every case runs in both roles (see harness.py): a raw-socket client against a
picows_like echo server, and a raw-socket server against a picows_like echo
client.
"""
