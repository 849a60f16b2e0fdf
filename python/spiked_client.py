"""A client for the spiked daemon's local socket, using only the standard library.

It speaks docs/protocol.md: 24-byte frame headers with a zlib CRC-32, a HELLO
handshake, JSON requests with binary attachments (TENSOR frames), JSON responses
or ERROR frames. One request at a time per Client; open several clients for
concurrency.

    from spiked_client import Client
    with Client() as c:
        print(c.call("version"))
        d = c.call("deploy", model={"path": "/abs/model.pt"})
        result, outputs = c.infer(d["deployment"], image, shape=[1, 1, 8, 8])
        with c.open_session(d["deployment"]) as s:    # streaming
            s.push([frame_t0, frame_t1], shape=[2, 1, 1, 8, 8])
            first_step, port, (shape, values) = s.receive()
            totals = s.close()
"""

import array
import json
import os
import socket
import struct
import sys
import zlib

MAGIC = b"SPKD"
VERSION = 1
HEADER = struct.Struct("<4sBBHQII")  # magic, version, type, flags, request id, length, crc

HELLO, HELLO_REPLY = 0x01, 0x02
REQUEST, RESPONSE, ERROR, CANCEL, PROGRESS = 0x10, 0x11, 0x12, 0x13, 0x14
TENSOR, SPIKES, BLOB = 0x20, 0x21, 0x22
STREAM_INPUT, STREAM_OUTPUT, CREDIT = 0x30, 0x31, 0x32
MORE, CONTINUED, OPEN = 0x1, 0x2, 0x4

DTYPES = {1: ("B", 1), 2: ("b", 1), 3: ("h", 2), 4: ("i", 4), 5: ("f", 4)}
F32 = 5


class SpikedError(Exception):
    """An ERROR frame, or a failure to reach the daemon: `code` is a status name such as
    NOT_FOUND or UNAVAILABLE, `message` says why, `hint` (maybe "") what to do next."""

    def __init__(self, code, message, details=None, hint=""):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = details or {}
        self.hint = hint


def default_socket_path():
    """The search order of docs/protocol.md, 'Finding the socket'."""
    env = os.environ.get("SPIKED_SERVER_SOCKET")
    if env:
        return env
    candidates = []
    if os.getuid() != 0:
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        if runtime:
            candidates.append(os.path.join(runtime, "spiked", "spiked.sock"))
        else:
            candidates.append(f"/tmp/spiked-{os.getuid()}/spiked.sock")
    candidates.append("/run/spiked/spiked.sock")
    for path in candidates:
        if os.path.exists(path):
            return path
    return candidates[0]


def encode_frame(frame_type, request_id, payload=b"", flags=0):
    head = struct.pack("<4sBBHQI", MAGIC, VERSION, frame_type, flags, request_id, len(payload))
    return head + struct.pack("<I", zlib.crc32(head) & 0xFFFFFFFF) + payload


def encode_tensor(values, shape, dtype=F32):
    code, size = DTYPES[dtype]
    data = array.array(code, values)
    if sys.byteorder != "little":
        data.byteswap()
    count = 1
    for d in shape:
        count *= d
    if count != len(data):
        raise ValueError(f"tensor: shape {list(shape)} needs {count} values, got {len(data)}")
    return struct.pack("<BBH", dtype, len(shape), 0) + struct.pack(f"<{len(shape)}I", *shape) + \
        data.tobytes()


def encode_stream_chunk(first_step, steps, port, tensor_payload):
    """A STREAM_INPUT payload carrying a TENSOR body whose leading dimension is `steps`."""
    return struct.pack("<QIHBB", first_step, steps, port, 1, 0) + tensor_payload


def decode_stream_chunk(payload):
    """(first_step, steps, port, (shape, values)) of a tensor-encoded chunk."""
    first_step, steps, port, encoding, _ = struct.unpack_from("<QIHBB", payload, 0)
    if encoding != 1:
        raise SpikedError("UNIMPLEMENTED", f"stream chunk encoding {encoding} is not decoded here")
    return first_step, steps, port, decode_tensor(payload[16:])


def decode_tensor(payload):
    dtype, rank, _ = struct.unpack_from("<BBH", payload, 0)
    shape = list(struct.unpack_from(f"<{rank}I", payload, 4))
    code, size = DTYPES[dtype]
    data = array.array(code)
    data.frombytes(payload[4 + 4 * rank:])
    if sys.byteorder != "little":
        data.byteswap()
    return shape, list(data)


class Client:
    def __init__(self, path=None, timeout=60.0, name="spiked_client.py"):
        self.path = path or default_socket_path()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(self.path)
        except OSError as e:
            # As the C++ client: a status code the caller can act on, not a raw OSError.
            self.sock.close()
            reason = e.strerror or str(e)
            if isinstance(e, PermissionError):
                raise SpikedError(
                    "PERMISSION_DENIED", f"cannot connect to {self.path}: {reason}",
                    hint="join the group that owns the socket (usually 'spiked'), then log in "
                         "again") from None
            raise SpikedError(
                "UNAVAILABLE", f"cannot connect to {self.path}: {reason}; is spiked running?",
                hint="start spiked (systemctl start spiked, or run spiked), or pass the socket "
                     "path / set $SPIKED_SERVER_SOCKET") from None
        self.next_id = 1
        self._send(HELLO, 0, json.dumps(
            {"client": name, "min_version": "1.0", "max_version": "1.0"}).encode())
        ftype, _, _, payload = self._recv()
        if ftype == ERROR:
            self._raise(payload)
        if ftype != HELLO_REPLY:
            raise SpikedError("INTERNAL", f"expected HELLO_REPLY, got frame type {ftype:#x}")
        self.hello = json.loads(payload)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _send(self, frame_type, request_id, payload=b"", flags=0):
        self.sock.sendall(encode_frame(frame_type, request_id, payload, flags))

    def _recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise SpikedError("UNAVAILABLE", "spiked closed the connection")
            buf += chunk
        return bytes(buf)

    def _recv(self):
        head = self._recv_exact(HEADER.size)
        magic, version, ftype, flags, request_id, length, crc = HEADER.unpack(head)
        if magic != MAGIC or zlib.crc32(head[:20]) & 0xFFFFFFFF != crc:
            raise SpikedError("DATA_LOSS", "bad frame header from spiked")
        return ftype, flags, request_id, self._recv_exact(length)

    @staticmethod
    def _raise(payload):
        err = json.loads(payload)
        raise SpikedError(err.get("code", "UNKNOWN"), err.get("message", ""), err.get("details"))

    def request(self, op, attachments=(), **fields):
        """Sends one request; returns (response JSON, [(frame type, payload), ...])."""
        request_id = self.next_id
        self.next_id += 1
        body = dict(fields, op=op)
        self._send(REQUEST, request_id, json.dumps(body).encode(), MORE if attachments else 0)
        for k, (ftype, payload) in enumerate(attachments):
            self._send(ftype, request_id, payload, MORE if k + 1 < len(attachments) else 0)
        response, extra, current = None, [], None
        while True:
            ftype, flags, rid, payload = self._recv()
            if rid != request_id:
                continue
            if ftype == PROGRESS:
                continue
            if ftype == ERROR:
                self._raise(payload)
            if ftype == RESPONSE:
                response = json.loads(payload)
            elif current is not None and current[0] == ftype:
                current[1].extend(payload)
            else:
                current = (ftype, bytearray(payload))
            if ftype != RESPONSE and not flags & CONTINUED:
                extra.append((current[0], bytes(current[1])))
                current = None
            if not flags & MORE:
                return response, extra

    def call(self, op, **fields):
        return self.request(op, **fields)[0]

    def open_session(self, deployment, **fields):
        """Opens a streaming session (docs/protocol.md, "Streaming sessions")."""
        request_id = self.next_id
        self.next_id += 1
        body = dict(fields, op="session.open", deployment=deployment)
        self._send(REQUEST, request_id, json.dumps(body).encode())
        while True:
            ftype, flags, rid, payload = self._recv()
            if rid != request_id or ftype == PROGRESS:
                continue
            if ftype == ERROR:
                self._raise(payload)
            if ftype != RESPONSE or not flags & OPEN:
                raise SpikedError("DATA_LOSS", f"session.open: unexpected frame type {ftype:#x}")
            return Session(self, request_id, json.loads(payload))

    def infer(self, deployment, values, shape, **fields):
        """One inference on float input `values` of `shape`; returns (response, {port: (shape, values)})."""
        response, extra = self.request(
            "infer", attachments=[(TENSOR, encode_tensor(values, shape))], deployment=deployment,
            inputs=[{"attachment": 0}], **fields)
        outputs = {}
        for out in response.get("outputs", []):
            ftype, payload = extra[out["attachment"]]
            if ftype == TENSOR:
                outputs[out["port"]] = decode_tensor(payload)
        return response, outputs


class Session:
    """A streaming session on its client's connection (one at a time per Client).

    push() sends input for the next timesteps within the server's input window, waiting
    for CREDIT when it is full; receive() returns the next output chunk; close() drains
    and returns the session's totals. Outputs are acknowledged with a CREDIT as they are
    read, also while push() waits: the server's input CREDIT comes behind them.
    """

    def __init__(self, client, session_id, info):
        self.client = client
        self.id = session_id
        self.info = info
        self.credit = max(1, int(info.get("input_window", 1)))
        self.window = self.credit
        self.next_step = {}
        self.outputs = []  # chunks that arrived while waiting for credit
        self.open = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.open:
            self.client._send(CANCEL, self.id)
            self.open = False

    def _take(self, ftype, payload):
        """Handles a session frame; returns True for an ERROR (raised)."""
        if ftype == CREDIT:
            self.credit += struct.unpack("<I", payload)[0]
        elif ftype == STREAM_OUTPUT:
            self.outputs.append(decode_stream_chunk(payload))
            self.client._send(CREDIT, self.id, struct.pack("<I", 1))
        elif ftype == ERROR:
            self.open = False
            self.client._raise(payload)

    def _next(self):
        while True:
            ftype, _, rid, payload = self.client._recv()
            if rid == self.id:
                return ftype, payload

    def push(self, values, shape, port=0, dtype=F32):
        """Input for shape[0] timesteps of input `port`; values flat, row-major."""
        while self.credit == 0:
            self._take(*self._next())
        steps = shape[0]
        first = self.next_step.get(port, 0)
        self.client._send(STREAM_INPUT, self.id,
                          encode_stream_chunk(first, steps, port, encode_tensor(values, shape, dtype)))
        self.credit -= 1
        self.next_step[port] = first + steps

    def wait_consumed(self):
        """Waits until the server has consumed every pushed chunk; their outputs are then
        in arrived()."""
        while self.credit < self.window:
            self._take(*self._next())

    def receive(self):
        """The next output chunk: (first_step, steps, port, (shape, values))."""
        while not self.outputs:
            self._take(*self._next())
        return self.outputs.pop(0)

    def arrived(self):
        """Output chunks already received, without waiting."""
        out, self.outputs = self.outputs, []
        return out

    def close(self, drain=True):
        """Ends the session; the outputs still due are kept for arrived(). Returns the totals."""
        self.client._send(REQUEST, self.id, json.dumps({"op": "session.close", "drain": drain}).encode())
        while True:
            ftype, payload = self._next()
            if ftype == RESPONSE:
                self.open = False
                return json.loads(payload)
            self._take(ftype, payload)


if __name__ == "__main__":
    with Client() as c:
        print(json.dumps(c.call(sys.argv[1] if len(sys.argv) > 1 else "version"), indent=2))
