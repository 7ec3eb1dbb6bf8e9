"""The running service of the client tests."""

from tests.client.conftest import live as live
