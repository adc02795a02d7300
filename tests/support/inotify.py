"""Watch a directory with Linux inotify (through ctypes): what the state store really does to its files, in order.

    with DirectoryWatch(state_dir) as watch:
        ...                                   # anything, in any process
    watch.events                              # [("IN_CREATE", "demo.lock"), ("IN_MOVED_TO", "demo.json"), ...]
"""

import ctypes
import os
import select
import struct
import threading

MASKS = {
    "IN_CLOSE_WRITE": 0x008,
    "IN_MOVED_FROM": 0x040,
    "IN_MOVED_TO": 0x080,
    "IN_CREATE": 0x100,
    "IN_DELETE": 0x200,
}
_HEADER = struct.Struct("iIII")
_libc = ctypes.CDLL("libc.so.6", use_errno=True)


class DirectoryWatch:
    def __init__(self, path):
        self.events = []
        self._fd = _libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self._fd < 0 or _libc.inotify_add_watch(self._fd, os.fsencode(path), sum(MASKS.values())) < 0:
            raise OSError(ctypes.get_errno(), "inotify on " + path)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        while True:
            ready, _unused, _unused = select.select([self._fd], [], [], 0.05)
            if not ready:
                if self._stop.is_set():
                    return
                continue
            data = os.read(self._fd, 65536)
            offset = 0
            while offset < len(data):
                _wd, mask, _cookie, length = _HEADER.unpack_from(data, offset)
                name = data[offset + _HEADER.size:offset + _HEADER.size + length].rstrip(b"\0").decode()
                offset += _HEADER.size + length
                self.events.extend((label, name) for label, bit in MASKS.items() if mask & bit)

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        os.close(self._fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
