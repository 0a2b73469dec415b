"""A loopback TCP forwarder that stands for the decision Service in front of two operator replicas: the media
gateway asks one address, and the test points it at whichever replica is active (as the Service's endpoints
follow the replicas' role labels, tests/fault/test_ha.py). TLS passes through untouched."""

from __future__ import annotations

import contextlib
import socket
import threading

from camfleet.devcluster.cluster import free_port

LOOPBACK = "127.0.0.1"


class TcpForwarder:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._listener = socket.create_server((LOOPBACK, self.port))
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"https://{LOOPBACK}:{self.port}"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._connect, args=(client, self.target_port), daemon=True).start()

    def _connect(self, client: socket.socket, port: int) -> None:
        try:
            upstream = socket.create_connection((LOOPBACK, port), timeout=5)
        except OSError:
            client.close()  # no replica there: the gateway's request fails, closed
            return
        upstream.settimeout(None)
        threading.Thread(target=_copy, args=(upstream, client), daemon=True).start()
        _copy(client, upstream)

    def close(self) -> None:
        self._closed = True
        self._listener.close()


def _copy(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
    for end in (source, target):
        with contextlib.suppress(OSError):
            end.shutdown(socket.SHUT_RDWR)
        end.close()
