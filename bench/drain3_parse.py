"""Drain3 side of bench/signatures: parse stdin with Drain3's default configuration.

Reads one message a line (UTF-8) from stdin and prints one JSON object: the cluster id Drain3 gave
each message, in input order, and the seconds spent inside Drain3 (start-up and I/O excluded, so the
throughput compared is the parser's alone). No configuration file is read: TemplateMinerConfig()
is Drain3 0.9.11's defaults (sim_th 0.4, depth 4, max_children 100, no masking).
"""
import json
import sys
import time

from drain3 import TemplateMiner
from drain3.template_miner_config import TemplateMinerConfig


def main() -> None:
    lines = sys.stdin.buffer.read().decode("utf-8", errors="replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    miner = TemplateMiner(config=TemplateMinerConfig())
    start = time.perf_counter()
    clusters = [miner.add_log_message(line)["cluster_id"] for line in lines]
    seconds = time.perf_counter() - start
    json.dump({"clusters": clusters, "seconds": seconds}, sys.stdout)


if __name__ == "__main__":
    main()
