#!/usr/bin/env python3
"""What systemd does for deploy/systemd/gptauth@.socket + gptauth@.service, for the tests (CI has
no systemd as PID 1): it holds the listening unix socket, starts the service's command with that
socket on descriptor 0 (StandardInput=socket) and on descriptor 3 with LISTEN_FDS=1 and
LISTEN_PID=<the service's pid> (sd_listen_fds), and on SIGHUP restarts the service the way
`systemctl restart` does with KillMode=mixed: SIGTERM to the main process, SIGKILL to its process
group if it is still there after 10 s, then a new start. The socket stays open throughout, so
connections made meanwhile wait in its backlog.

    socket_unit.py SOCKET STARTS_FILE COMMAND...

Prints "1" when the socket listens and the service has started; each start appends the service's
pid to STARTS_FILE. Exits, stopping the service, when its standard input closes."""
import os
import signal
import socket
import sys
import time

path, starts_file, command = sys.argv[1], sys.argv[2], sys.argv[3:]
if os.path.exists(path):
    os.unlink(path)
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind(path)
os.chmod(path, 0o660)
listener.listen(1024)
service = None


def start():
    global service
    pid = os.fork()
    if pid == 0:
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, set())  # the service starts with no signal blocked
            os.setsid()
            devnull = os.open(os.devnull, os.O_RDWR)
            os.dup2(listener.fileno(), 0)
            os.dup2(listener.fileno(), 3)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            os.closerange(4, 1024)
            environment = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
            os.execvpe(command[0], command, environment)
        finally:
            os._exit(127)
    service = pid
    with open(starts_file, "a") as starts:
        starts.write(f"{pid}\n")


def stop():
    global service
    if service is None:
        return
    try:
        os.kill(service, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + 10
    while True:
        try:
            done, _ = os.waitpid(service, os.WNOHANG)
        except ChildProcessError:
            break
        if done:
            break
        if time.monotonic() > deadline:
            os.killpg(service, signal.SIGKILL)
            os.waitpid(service, 0)
            break
        time.sleep(0.005)
    try:
        os.killpg(service, signal.SIGKILL)  # KillMode=mixed: what is left of the service's processes
    except ProcessLookupError:
        pass
    service = None


def restart(signum, frame):
    # One restart at a time, and no stop in the middle of one (as systemd queues its jobs).
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP, signal.SIGTERM})
    stop()
    start()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP, signal.SIGTERM})


def terminate(signum, frame):
    raise SystemExit(0)


signal.signal(signal.SIGHUP, restart)
signal.signal(signal.SIGTERM, terminate)
# SIGTERM (the test stopping this "systemd") is only taken while waiting on stdin, so the
# service is always stopped in `finally`.
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
try:
    start()
    print("1", flush=True)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    while sys.stdin.buffer.read(1):
        pass
finally:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP, signal.SIGTERM})
    stop()
    listener.close()
    os.unlink(path)
