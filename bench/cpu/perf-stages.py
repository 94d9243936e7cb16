#!/usr/bin/env python3
"""Shares of a backup's CPU samples by stage, from `perf script` of a `perf record -g` of the server or the program
(run them with DOTNET_PerfMapEnabled=1, and DOTNET_EnableWriteXorExecute=0 so that jitted frames resolve):
    perf script -i perf.data | python3 bench/cpu/perf-stages.py
Each sample goes to the first stage whose pattern its leaf frame (or, for system calls, its stack) matches."""
import collections
import re
import sys


# (stage, pattern, where): "leaf" matches the sample's innermost frame, "stack" any frame of it; first match wins.
RULES = [
    ("JIT (tiered recompiles, first compiles)", r"libclrjit", "leaf"),
    ("SHA-256 (chunk hashing)", r"libcrypto", "leaf"),
    ("zstd-1 compression (and raw frames)", r"libzstd|ZstdRawFrame", "leaf"),
    ("CRC32C", r"Crc32C|Blueback\.IO\.dll", "leaf"),
    ("fsync", r"fsync|fdatasync", "stack"),
    ("repository write (O_DIRECT)", r"pwrite|vfs_write|ext4_file_write|iomap_dio", "stack"),
    ("socket send (kernel)", r"tcp_sendmsg|sock_sendmsg|sendmsg", "stack"),
    ("socket receive (kernel)", r"tcp_recvmsg|sock_recvmsg|recvfrom|sock_read", "stack"),
    ("page read (from the page cache)", r"pread|filemap_read", "stack"),
    ("thread pool waits, spins and wake-ups", r"sched_yield|futex|schedule|epoll", "stack"),
    ("copies", r"memmove|Memmove", "leaf"),
    ("HTTP framing: Kestrel / HttpClient code", r"Kestrel|System\.Net\.Http|System\.Net\.Sockets|Pipelines", "leaf"),
    ("runtime (GC, type loads, stubs)", r"libcoreclr", "leaf"),
    ("kernel, other (page faults, system calls)", r"\[k\]|kallsyms|^ffffffff", "leaf"),
]


def stage(sample: str) -> str:
    lines = [line.strip() for line in sample.strip().split("\n")]
    thread, leaf, stack = lines[0], (lines[1] if len(lines) > 1 else ""), "\n".join(lines[1:])
    if "Tiered Com" in thread:
        return RULES[0][0]
    name = next((n for n, pattern, where in RULES if re.search(pattern, leaf if where == "leaf" else stack)), "other managed code")
    if name == "CRC32C":  # whose: a page's check as it is read, or a chunk payload's
        pages = re.search(r"VerifiedPageReads|DatabaseImageStream|Blueback\.Storage\.dll", stack)
        return "CRC32C of pages (every page checked)" if pages else "CRC32C of chunk payloads"
    if name == "copies":  # into Kestrel's response pipe, or elsewhere
        return "HTTP framing: copies into Kestrel's pipe" if re.search(r"Kestrel|Pipelines|BuffersExtensions", stack) else "other copies"
    return name


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
