#!/usr/bin/env python3
"""Shares of a backup's CPU samples by stage, from `perf script` of a `perf record -g` of the server or the program
(run them with DOTNET_PerfMapEnabled=1, and DOTNET_EnableWriteXorExecute=0 so that jitted frames resolve):
    perf script -i perf.data | python3 bench/cpu/perf-stages.py
Each sample goes to the first stage whose pattern its leaf frame (or, for system calls, its stack) matches."""
import collections
import re
import sys


def stage(sample: str) -> str:
    lines = [line.strip() for line in sample.strip().split("\n")]
    thread, leaf, stack = lines[0], (lines[1] if len(lines) > 1 else ""), "\n".join(lines[1:])
    if "Tiered Com" in thread or "libclrjit" in leaf:
        return "JIT (tiered recompiles, first compiles)"
    if "libcrypto" in leaf:
        return "SHA-256 (chunk hashing)"
    if re.search(r"libzstd|ZstdRawFrame", leaf):
        return "zstd-1 compression (and raw frames)"
    if re.search(r"Crc32C|Blueback\.IO\.dll", leaf):
        if re.search(r"VerifiedPageReads|DatabaseImageStream|Blueback\.Storage\.dll", stack):
            return "CRC32C of pages (every page checked)"
        return "CRC32C of chunk payloads"
    if re.search(r"fsync|fdatasync", stack):
        return "fsync"
    if re.search(r"pwrite|vfs_write|ext4_file_write|iomap_dio", stack):
        return "repository write (O_DIRECT)"
    if re.search(r"pread|filemap_read", stack) and not re.search(r"sock|tcp", stack):
        return "page read (from the page cache)"
    if re.search(r"tcp_sendmsg|sock_sendmsg|sendmsg", stack):
        return "socket send (kernel)"
    if re.search(r"tcp_recvmsg|sock_recvmsg|recvfrom|sock_read", stack):
        return "socket receive (kernel)"
    if re.search(r"sched_yield|futex|schedule|epoll", stack):
        return "thread pool waits, spins and wake-ups"
    if re.search(r"memmove|Memmove", leaf):
        if re.search(r"Kestrel|Pipelines|BuffersExtensions", stack):
            return "HTTP framing: copies into Kestrel's pipe"
        return "other copies"
    if re.search(r"Kestrel|System\.Net\.Http|System\.Net\.Sockets|Pipelines", leaf):
        return "HTTP framing: Kestrel / HttpClient code"
    if re.search(r"libcoreclr", leaf):
        return "runtime (GC, type loads, stubs)"
    if re.search(r"\[k\]|kallsyms|^ffffffff", leaf):
        return "kernel, other (page faults, system calls)"
    return "other managed code"


def main() -> None:
    counts: collections.Counter[str] = collections.Counter()
    for sample in sys.stdin.read().split("\n\n"):
        if sample.strip():
            counts[stage(sample)] += 1
    total = sum(counts.values())
    for name, n in counts.most_common():
        print(f"| {name} | {100 * n / total:.0f}% |")
    print(f"({total} samples)")


if __name__ == "__main__":
    main()
