"""picows_like behind a real reverse proxy: nginx from the Debian package.

nginx is started unprivileged-port style from a config written to a temp dir
(the settings docs/deployment.rst documents) in front of a picows_like
server; WebSocket traffic passes through it: text, a 1 MiB binary message,
fragments, PING/PONG, permessage-deflate, and clean closes started by either
side.  Skipped, with the reason, when the ``nginx`` binary is not installed
(``apt-get install nginx``; .ci/run installs it when it can).
"""
import os
import shutil
import socket
import subprocess
import time

import pytest

import picows_like as picows
from picows_like import WSCloseCode, WSMsgType
from helpers import RecordingListener, connect, wf

NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)

pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed "
                                "(apt-get install nginx; .ci/run installs it when it can)")

# The location block is the part to copy (docs/deployment.rst shows it).
NGINX_CONF = """\
{user}
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 128; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;

    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}
    upstream picows_backend {{
        server 127.0.0.1:{backend};
    }}
    server {{
        listen 127.0.0.1:{port};
        location /ws/ {{
            proxy_pass http://picows_backend;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_connect_timeout 5s;
            proxy_read_timeout 60s;
            proxy_send_timeout 60s;
            proxy_buffering off;
        }}
        location = /health {{
            return 200 "nginx ok\\n";
        }}
    }}
}}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_listening(port: int, proc: subprocess.Popen, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError("nginx did not start listening")


@pytest.fixture
def nginx(tmp_path):
    """Start nginx proxying 127.0.0.1:<port>/ws/ -> a backend port; yields
    (proxy_port, backend_port).  The test binds the backend port."""
    port, backend = _free_port(), _free_port()
    user = "user root;" if os.geteuid() == 0 else ""      # workers keep tmp_path access
    conf = tmp_path / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp_path, port=port, backend=backend, user=user))
    check = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"),
                            "-c", str(conf)], capture_output=True, text=True, timeout=10)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen([NGINX, "-p", str(tmp_path), "-e", str(tmp_path / "error.log"),
                             "-c", str(conf), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_listening(port, proc)
        yield port, backend
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        errors = (tmp_path / "error.log").read_text() if (tmp_path / "error.log").exists() else ""
        assert "[emerg]" not in errors and "[alert]" not in errors, errors



async def test_websocket_through_nginx(nginx):
    port, backend = nginx
    requests = []

    def factory(request):
        requests.append(request)
        return RecordingListener(echo=True)

    server = await wf(picows.ws_create_server(factory, "127.0.0.1", backend))
    try:
        client, cl = await connect(f"ws://127.0.0.1:{port}/ws/echo")
        assert requests[0].path == b"/ws/echo"
        assert requests[0].headers.get("X-Forwarded-For") == "127.0.0.1"

        client.send(WSMsgType.TEXT, "through nginx")
        assert await cl.next_message() == (WSMsgType.TEXT, b"through nginx")

        big = os.urandom(1024 * 1024)
        client.send(WSMsgType.BINARY, big)
        assert await cl.next_message() == (WSMsgType.BINARY, big)

        client.send(WSMsgType.BINARY, b"frag-", fin=False)
        client.send(WSMsgType.CONTINUATION, b"mented", fin=True)
        assert await cl.next_message() == (WSMsgType.BINARY, b"frag-mented")

        rtts = await wf(client.measure_roundtrip_time(3))
        assert len(rtts) == 3

        # Clean close started by the client: CLOSE 1000 goes through and back.
        client.send_close(WSCloseCode.OK, b"bye")
        await wf(client.wait_disconnected())
        hs = client.close_handshake
        assert hs is not None and hs.recv is not None and hs.recv.code == WSCloseCode.OK
        assert hs.sent is not None and hs.sent.code == WSCloseCode.OK
    finally:
        server.close()


async def test_server_close_and_deflate_through_nginx(nginx):
    port, backend = nginx

    class Goodbye(RecordingListener):
        def handle_frame(self, transport, frame, rec):
            if rec.payload == b"close me":
                transport.send_close(WSCloseCode.GOING_AWAY, b"restart")
            else:
                super().handle_frame(transport, frame, rec)

    server = await wf(picows.ws_create_server(lambda request: Goodbye(echo=True), "127.0.0.1",
                                              backend, compression="deflate"))
    try:
        # nginx passes Sec-WebSocket-Extensions through: deflate is end to end.
        client, cl = await connect(f"ws://127.0.0.1:{port}/ws/feed", compression="deflate")
        assert client.compression is not None
        text = b'{"sym":"BTC-USD","px":60000.5}' * 20000          # ~600 KB, compresses well
        client.send(WSMsgType.TEXT, text)
        assert await cl.next_message() == (WSMsgType.TEXT, text)

        client.send(WSMsgType.TEXT, b"close me")
        close = await cl.wait_frame(WSMsgType.CLOSE)
        assert close.close_code == WSCloseCode.GOING_AWAY and close.close_message == b"restart"
        await wf(client.wait_disconnected())
        assert client.close_handshake.sent.code == WSCloseCode.GOING_AWAY     # echoed
    finally:
        server.close()


async def test_backend_down_is_a_502(nginx):
    port, _ = nginx                      # nothing listens on the backend port
    with pytest.raises(picows.WSInvalidStatusError) as info:
        await connect(f"ws://127.0.0.1:{port}/ws/echo", timeout=5)
    assert int(info.value.response.status) == 502
