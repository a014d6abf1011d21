"""Shared by demo.py and bench.py: constants of the sample events, processes on 127.0.0.1 free ports, and the repeat
history's table as template.yaml makes it."""
import pathlib
import socket
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
REGION = "eu-west-1"
EVENT_GROUP = "sg-0a1b2c3d4e5f60718"
DUMMY = {"aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": REGION}
HISTORY_TABLE = "egress-guard-history"


def create_history_table(dynamodb):
    """The repeat history's table (key `pk`, on demand), as template.yaml makes it; returns its name."""
    dynamodb.create_table(
        TableName=HISTORY_TABLE, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    return HISTORY_TABLE


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what, poll=0.05):
    """Waits until `proc` listens on 127.0.0.1:`port`; exits with a message if it dies or takes over 60 s."""
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(poll)
    sys.exit(f"{what} did not listen on 127.0.0.1:{port}")
