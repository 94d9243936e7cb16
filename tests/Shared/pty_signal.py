# Runs a program in a pseudo-terminal, as a user's terminal would, and signals it at a moment:
#   python3 pty_signal.py SIGNAL DELAY BOUND PROGRAM [ARGS...]
# SIGNAL: INT (^C written to the terminal, so the line discipline sends SIGINT to its foreground group), TERM, KILL,
# or none (the program is left to finish within BOUND seconds). DELAY: seconds after the program owns the terminal.
# Prints one line, "OUTCOME EXIT MS": finished-before (ended before the signal), interrupted (ended after it, MS from
# the signal to the exit), hung (not ended within BOUND, or 10 s after the signal: killed, EXIT -1). The program's
# terminal output (its last 2,000 characters) goes to standard error.
# Shared by the end-to-end tests and the soak (bench/Blueback.Soak): one helper, so a fix reaches both.
import os, pty, sys, time, select, signal

sig = sys.argv[1]; delay = float(sys.argv[2]); bound = float(sys.argv[3]); argv = sys.argv[4:]

# A terminal's shell runs its commands with ^C's default: a harness started with & (whose shell ignores SIGINT in
# it) would otherwise pass the ignore on, and the program would never see the ^C. Set around the fork, not in the
# child: there Python's own handler held until the child reset it, and would swallow an early ^C.
old = (signal.signal(signal.SIGINT, signal.SIG_DFL), signal.signal(signal.SIGQUIT, signal.SIG_DFL))
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
signal.signal(signal.SIGINT, old[0]); signal.signal(signal.SIGQUIT, old[1])

# The clock starts once the child owns the terminal: a ^C written before is dropped (no foreground process yet;
# 191 of 200 written at once after the fork were lost), and on a loaded machine the child takes a while.
owned = time.monotonic() + 10
while time.monotonic() < owned:
    try:
        if os.tcgetpgrp(fd) == pid:
            break
    except OSError:
        pass
    time.sleep(0.0005)

out = bytearray()
def drain(until):
    while time.monotonic() < until:
        r, _, _ = select.select([fd], [], [], 0.01)
        if r:
            try:
                out.extend(os.read(fd, 65536))
            except OSError:
                time.sleep(0.005)  # the terminal's other side closed: the program is exiting
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
    return None

status = drain(time.monotonic() + (delay if sig != "none" else bound))
if status is not None:
    print("finished-before", os.waitstatus_to_exitcode(status), 0)
elif sig == "none":
    os.kill(pid, 9); os.waitpid(pid, 0); print("hung", -1, 0)
else:
    t0 = time.monotonic()
    if sig == "INT":
        os.write(fd, b"\x03")
    else:
        os.kill(pid, signal.SIGTERM if sig == "TERM" else signal.SIGKILL)
    status = drain(t0 + 10)
    ms = (time.monotonic() - t0) * 1000
    if status is None:
        os.kill(pid, 9); os.waitpid(pid, 0); print("hung", -1, round(ms, 1))
    else:
        print("interrupted", os.waitstatus_to_exitcode(status), round(ms, 1))
sys.stdout.flush()
sys.stderr.write(out.decode(errors="replace")[-2000:])
