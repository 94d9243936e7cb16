# The ceiling for any backup stream here: bytes through one loopback TCP or Unix socket connection, from memory
# to a reader that discards them (no file read, no checks, no HTTP). Usage: python3 bench/socket-ceiling.py
import os, socket, tempfile, threading, time
TOTAL = 4 << 30
BUF = 4 << 20
def run(family, addr):
    srv = socket.socket(family, socket.SOCK_STREAM)
    if family == socket.AF_UNIX and os.path.exists(addr): os.unlink(addr)
    srv.bind(addr); srv.listen(1)
    bound = srv.getsockname()
    def sender():
        c, _ = srv.accept()
        data = memoryview(bytearray(os.urandom(BUF)))
        sent = 0
        while sent < TOTAL:
            c.sendall(data); sent += BUF
        c.close()
    t = threading.Thread(target=sender); t.start()
    r = socket.socket(family, socket.SOCK_STREAM); r.connect(bound)
    buf = bytearray(BUF); mv = memoryview(buf); got = 0
    t0 = time.perf_counter()
    while True:
        n = r.recv_into(mv)
        if n == 0: break
        got += n
    dt = time.perf_counter() - t0
    t.join(); r.close(); srv.close()
    return got / dt
for i in range(2):
    print("tcp loopback %.0f MB/s" % (run(socket.AF_INET, ("127.0.0.1", 0)) / 1e6))
    print("unix socket  %.0f MB/s" % (run(socket.AF_UNIX, os.path.join(tempfile.gettempdir(), "bb-socket-ceiling.sock")) / 1e6))
