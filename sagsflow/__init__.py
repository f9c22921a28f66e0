"""The sagsflow application shell: the command line that wires processes, worker and inbox."""
