#!/usr/bin/env python3
"""Runs a command and reports its peak resident set size, measured by the kernel.

usage: peak_rss.py CMD [ARGS...]
The command's stdout and stderr pass through; at the end one line
`PEAK_RSS_BYTES=<n> WALL_S=<s>` goes to stderr (getrusage(RUSAGE_CHILDREN).ru_maxrss, which
Linux reports in KiB: the high-water mark of the largest child, i.e. VmHWM). Exit code: the
command's.
"""
import resource
import subprocess
import sys
import time

t = time.perf_counter()
rc = subprocess.call(sys.argv[1:])
wall = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
sys.stderr.write(f"PEAK_RSS_BYTES={peak} WALL_S={wall:.3f}\n")
sys.exit(rc)
