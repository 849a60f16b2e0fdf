"""Unit tests of python/spiked_client.py's encoders against docs/protocol.md (no daemon;
the end-to-end agreement with the C++ client is tests/cli)."""

import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import spiked_client as sc  # noqa: E402


class FrameTest(unittest.TestCase):
    def test_header_matches_the_protocol_example(self):
        frame = sc.encode_frame(sc.REQUEST, 7, b'{"op":"version"}')
        self.assertEqual(frame[:24].hex(" "), "53 50 4b 44 01 10 00 00 07 00 00 00 00 00 00 00 "
                                              "10 00 00 00 ad fb 97 8c")

    def test_tensor_round_trip(self):
        payload = sc.encode_tensor([1.0, 2.5, -3.0, 0.0], [2, 2])
        self.assertEqual(payload[:4], bytes([sc.F32, 2, 0, 0]))
        self.assertEqual(sc.decode_tensor(payload), ([2, 2], [1.0, 2.5, -3.0, 0.0]))
        with self.assertRaises(ValueError):
            sc.encode_tensor([1.0], [2])

    def test_stream_chunk_round_trip(self):
        chunk = sc.encode_stream_chunk(5, 2, 1, sc.encode_tensor([1, 0, 0, 1], [2, 2]))
        self.assertEqual(struct.unpack_from("<QIHBB", chunk, 0), (5, 2, 1, 1, 0))
        self.assertEqual(sc.decode_stream_chunk(chunk), (5, 2, 1, ([2, 2], [1.0, 0.0, 0.0, 1.0])))


class SocketPathTest(unittest.TestCase):
    def test_environment_variable_wins(self):
        old = os.environ.get("SPIKED_SERVER_SOCKET")
        os.environ["SPIKED_SERVER_SOCKET"] = "/tmp/x/spiked.sock"
        try:
            self.assertEqual(sc.default_socket_path(), "/tmp/x/spiked.sock")
        finally:
            if old is None:
                del os.environ["SPIKED_SERVER_SOCKET"]
            else:
                os.environ["SPIKED_SERVER_SOCKET"] = old


class FakeStreamingServer(threading.Thread):
    """A server that keeps the daemon's output window: per STREAM_INPUT step one
    STREAM_OUTPUT, sent only against the client's CREDITs, and the input CREDIT
    behind them (docs/protocol.md, "Streaming sessions")."""

    def __init__(self, path, output_window):
        super().__init__(daemon=True)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(1)
        self.output_window = output_window

    def run(self):
        conn, _ = self.listener.accept()
        try:
            self.serve(conn)
        finally:
            conn.close()
            self.listener.close()

    def serve(self, conn):
        conn.settimeout(10)

        def recv():
            head = b""
            while len(head) < sc.HEADER.size:
                head += conn.recv(sc.HEADER.size - len(head))
            _, _, ftype, _, rid, length, _ = sc.HEADER.unpack(head)
            payload = b""
            while len(payload) < length:
                payload += conn.recv(length - len(payload))
            return ftype, rid, payload

        def send(ftype, rid, payload=b"", flags=0):
            conn.sendall(sc.encode_frame(ftype, rid, payload, flags))

        recv()
        send(sc.HELLO_REPLY, 0, b'{"server": "fake"}')
        _, sid, _ = recv()
        send(sc.RESPONSE, sid, json.dumps({"input_window": 1,
                                           "output_window": self.output_window}).encode(), sc.OPEN)
        credit, held, steps = self.output_window, [], 0
        while True:
            ftype, _, payload = recv()
            if ftype == sc.CREDIT:
                credit += struct.unpack("<I", payload)[0]
            elif ftype == sc.STREAM_INPUT:
                first, n, _ = sc.decode_stream_chunk(payload)[:3]
                for t in range(first, first + n):
                    held.append((sc.STREAM_OUTPUT, sc.encode_stream_chunk(
                        t, 1, 0, sc.encode_tensor([float(t)], [1, 1]))))
                held.append((sc.CREDIT, struct.pack("<I", 1)))
                steps += n
            elif ftype == sc.REQUEST:  # session.close: drain whatever the window
                for frame in held:
                    send(frame[0], sid, frame[1])
                send(sc.RESPONSE, sid, json.dumps({"steps": steps}).encode())
                return
            while held and (held[0][0] != sc.STREAM_OUTPUT or credit > 0):
                if held[0][0] == sc.STREAM_OUTPUT:
                    credit -= 1
                send(held[0][0], sid, held[0][1])
                held.pop(0)


class SessionWindowTest(unittest.TestCase):
    def test_push_beyond_the_output_window_without_receiving(self):
        # Each chunk makes 4 outputs against a window of 1: push() must acknowledge
        # the outputs it reads while waiting for input credit, or it waits forever.
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "fake.sock")
            server = FakeStreamingServer(path, output_window=1)
            server.start()
            with sc.Client(path, timeout=10) as client:
                session = client.open_session("d")
                for _ in range(10):
                    session.push([0.0] * 4, [4, 1])
                steps = [session.receive()[0] for _ in range(40)]
                self.assertEqual(steps, list(range(40)))
                self.assertEqual(session.close(), {"steps": 40})
            server.join(10)


class ConnectErrorTest(unittest.TestCase):
    def test_no_daemon_is_unavailable_with_a_hint(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "spiked.sock")
            with self.assertRaises(sc.SpikedError) as raised:
                sc.Client(path, timeout=10)
            e = raised.exception
            self.assertEqual(e.code, "UNAVAILABLE")
            self.assertIn(path, e.message)
            self.assertIn("is spiked running?", e.message)
            self.assertIn("start spiked", e.hint)

    def test_examples_print_the_hint(self):
        examples = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "examples")
        with tempfile.TemporaryDirectory() as tmp:
            data = os.path.join(tmp, "digits.bin")
            with open(data, "wb") as f:  # one 1x1 digit: header, pixel, label
                f.write(struct.pack("<8sIIII", b"SPKDIGIT", 1, 1, 1, 1))
                f.write(struct.pack("<fi", 0.5, 3))
            socket_path = os.path.join(tmp, "spiked.sock")
            for script, extra in (("edge_stream.py", ["--deployment", "d"]),
                                  ("quickstart.py", ["--deployment", "d"])):
                run = subprocess.run(
                    [sys.executable, os.path.join(examples, script), "--socket", socket_path,
                     "--data", data] + extra,
                    capture_output=True, text=True, timeout=60,
                    env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
                self.assertEqual(run.returncode, 3, script + ": " + run.stderr)
                self.assertIn("is spiked running?", run.stderr, script)
                self.assertIn("hint: start spiked", run.stderr, script)


if __name__ == "__main__":
    unittest.main()
