#!/usr/bin/env python3
"""Starts a command and kills it (SIGKILL) once its journal's data file holds half the output.

    kill_at_half.py DATA_FILE HALF_BYTES COMMAND...

Used by run.sh's resume trials and resume_in_turn.sh. Exits non-zero when the command ended
by itself before it could be killed.
"""
# Data reaches the journal's data file at each commit, before that group's records: once it
# holds half the output, the kill waits for the next commit to begin (the data file grows
# again), when the group that crossed half is on record.
import os, signal, subprocess, sys, time
data, half, command = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
job = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    crossed = None
    while job.poll() is None:
        try:
            size = os.stat(data).st_size
        except FileNotFoundError:
            size = 0
        if crossed is None and size >= half:
            crossed = size
        elif crossed is not None and size > crossed:
            job.send_signal(signal.SIGKILL)
            break
        time.sleep(0.001)
finally:
    if job.poll() is None:
        job.kill()
    job.wait()
if job.returncode != -signal.SIGKILL:
    sys.exit(f"the run to kill ended by itself (status {job.returncode}) before half its work")
