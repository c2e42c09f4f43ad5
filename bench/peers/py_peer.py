"""The Python contender: what a Python shared-memory context typically does, standard library only.

A value is pickled into a new multiprocessing.shared_memory block, and a JSON receipt file (key
-> block name and size), guarded by an fcntl lock, tells other processes where it is. The
consumer reads the receipt under the lock, attaches the block, unpickles the value and reads
every byte of it (zlib.crc32, as the Node consumers do).

Two processes, both started by the Node harness:
  py_peer.py producer DIR   process A: holds the values, saves them, names each key on a FIFO
  py_peer.py consumer DIR   process B: loads each key named on the FIFO, reports to the harness

Commands arrive as JSON lines on stdin; answers leave as JSON lines on stdout. Time stamps are
time.monotonic_ns(), the CLOCK_MONOTONIC that Node's hrtime reads too.
"""

import fcntl
import gc
import json
import os
import pickle
import selectors
import sys
import time
import zlib
from multiprocessing import resource_tracker, shared_memory

FIFO_NAME = 'handoff.fifo'
RECEIPTS_NAME = 'receipts.json'
LOCK_NAME = 'receipts.lock'


def answer(message):
    sys.stdout.write(json.dumps(message) + '\n')
    sys.stdout.flush()


class Receipts:
    """The JSON receipt file of a run: key -> {name, size}, read and written under a file lock."""

    def __init__(self, directory):
        self.path = os.path.join(directory, RECEIPTS_NAME)
        self.lock_path = os.path.join(directory, LOCK_NAME)

    def _locked(self, mode):
        lock = open(self.lock_path, 'a+')
        fcntl.flock(lock, mode)
        return lock

    def _read(self):
        try:
            with open(self.path) as receipts:
                return json.load(receipts)
        except FileNotFoundError:
            return {}

    def put(self, key, entry):
        with self._locked(fcntl.LOCK_EX):
            receipts = self._read()
            receipts[key] = entry
            with open(self.path, 'w') as out:
                json.dump(receipts, out)

    def get(self, key):
        with self._locked(fcntl.LOCK_SH):
            return self._read()[key]

    def remove(self, key):
        with self._locked(fcntl.LOCK_EX):
            receipts = self._read()
            receipts.pop(key, None)
            with open(self.path, 'w') as out:
                json.dump(receipts, out)


def bytes_of(value):
    """The bytes to checksum: the value itself, or a tensor's data."""
    return value['data'] if isinstance(value, dict) else value


class Producer:
    """Process A: loads datasets from files once, then saves them on command."""

    def __init__(self, directory):
        self.receipts = Receipts(directory)
        self.values = {}
        self.blocks = {}
        fifo = os.path.join(directory, FIFO_NAME)
        os.mkfifo(fifo)
        # O_RDWR never blocks on a FIFO, so A needs no reader to exist yet.
        self.fifo = os.open(fifo, os.O_RDWR)

    def load(self, command):
        with open(command['path'], 'rb') as source:
            data = source.read()
        shape = command.get('shape')
        # A tensor as bytes plus its shape: the cheapest form to pickle without numpy.
        self.values[command['id']] = data if shape is None else {
            'data': data, 'shape': shape, 'dtype': 'float32'}
        return {'ok': True}

    def handoff(self, command):
        key, value = command['key'], self.values[command['id']]
        t0 = time.monotonic_ns()
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        block = shared_memory.SharedMemory(create=True, size=len(payload))
        block.buf[:len(payload)] = payload
        self.receipts.put(key, {'name': block.name, 'size': len(payload)})
        t_sent = time.monotonic_ns()
        os.write(self.fifo, f'{key} {t0} {t_sent}\n'.encode())

        self.blocks[key] = block
        return {'ok': True}

    def cleanup(self, command):
        key = command['key']
        self.receipts.remove(key)
        block = self.blocks.pop(key)
        block.close()
        block.unlink()
        return {'ok': True}

    def drop(self, command):
        self.values.pop(command['id'], None)
        gc.collect()
        return {'ok': True}


class Consumer:
    """Process B: loads every key named on the FIFO and holds the value until released."""

    def __init__(self, directory):
        self.receipts = Receipts(directory)
        self.fifo = open(os.path.join(directory, FIFO_NAME), 'rb', buffering=0)
        self.pending = b''
        self.held = None

    def on_fifo(self):
        self.pending += os.read(self.fifo.fileno(), 65536)
        while b'\n' in self.pending:
            line, self.pending = self.pending.split(b'\n', 1)
            key, t0, t_sent = line.decode().split(' ')
            answer(self.load(key, t0, t_sent))

    def load(self, key, t0, t_sent):
        t_recv = time.monotonic_ns()
        entry = self.receipts.get(key)
        block = shared_memory.SharedMemory(name=entry['name'])
        # Attaching registers the block for removal at exit (Python < 3.13); A owns it, not B.
        resource_tracker.unregister(block._name, 'shared_memory')
        with block.buf[:entry['size']] as view:
            value = pickle.loads(view)
        block.close()
        t_decoded = time.monotonic_ns()
        crc = zlib.crc32(bytes_of(value))
        t1 = time.monotonic_ns()

        self.held = value
        return {'op': 'received', 't0': t0, 'tSent': t_sent, 'tRecv': str(t_recv),
                'tDecoded': str(t_decoded), 't1': str(t1), 'crc': crc}

    def release(self, command):
        self.held = None
        if command.get('collect'):
            gc.collect()
        return {'op': 'released'}


def serve(handlers, extra=None):
    """Answers JSON commands from stdin (and FIFO lines, for B) until stdin closes."""
    selector = selectors.DefaultSelector()
    selector.register(sys.stdin.buffer.raw, selectors.EVENT_READ, 'stdin')
    if extra is not None:
        selector.register(extra[0], selectors.EVENT_READ, 'extra')
    pending = b''
    answer({'op': 'ready', 'pid': os.getpid()})
    while True:
        for selected, _ in selector.select():
            if selected.data == 'extra':
                extra[1]()
                continue
            chunk = os.read(sys.stdin.fileno(), 65536)
            if not chunk:
                return
            pending += chunk
            while b'\n' in pending:
                line, pending = pending.split(b'\n', 1)
                command = json.loads(line)
                answer(handlers[command['op']](command))


def main():
    role, directory = sys.argv[1], sys.argv[2]
    if role == 'producer':
        producer = Producer(directory)
        handlers = {'load': producer.load, 'handoff': producer.handoff,
                    'cleanup': producer.cleanup, 'drop': producer.drop}
        serve(handlers)
    else:
        consumer = Consumer(directory)
        serve({'release': consumer.release}, (consumer.fifo, consumer.on_fifo))


if __name__ == '__main__':
    main()
