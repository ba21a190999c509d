"""Shared by the Python server tests: stopping a gpt4rec-server child the way an operator does."""
import shutil
import signal
import subprocess


def stop_server(proc, data_dir):
    """SIGTERM, at most 30 s for a clean exit (then SIGKILL); removes data_dir. Returns the exit status."""
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    shutil.rmtree(data_dir, ignore_errors=True)
    return rc
