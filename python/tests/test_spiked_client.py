"""Unit tests of python/spiked_client.py's encoders against docs/protocol.md (no daemon;
the end-to-end agreement with the C++ client is tests/cli)."""

import os
import struct
import sys
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


if __name__ == "__main__":
    unittest.main()
