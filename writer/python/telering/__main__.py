"""``python -m telering [SEGMENT] [--json]``: the segment, its reader and the lanes in use,
read without attaching (nothing is created or claimed)."""

from __future__ import annotations

import argparse
import json
import sys

from . import _native
from ._session import default_segment


def main(argv=None) -> int:
    """Prints what inspect_segment() finds; exit 1 when the segment cannot be opened."""
    ap = argparse.ArgumentParser(prog="python -m telering", description=__doc__.split("\n")[0])
    ap.add_argument("segment", nargs="?", default=None, help="segment name (default: $TELERING_SEGMENT or telering)")
    ap.add_argument("--json", action="store_true", help="print the raw data as JSON")
    ap.add_argument("--trust-segment-owner", action="store_true", help="read a segment another user created")
    args = ap.parse_args(argv)
    segment = args.segment or default_segment()
    try:
        info = _native.inspect_segment(segment, trust_other_owner=args.trust_segment_owner)
    except _native.TeleringError as e:
        print(e, file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    geo, reader, counters = info["geometry"], info["reader"], info["counters"]
    print(f"segment  /dev/shm/{segment}  {info['size'] / (1 << 20):.1f} MiB  "
          f"{geo['lane_count']} lanes x {geo['lane_capacity']} records, {geo['name_capacity']} names")
    if reader["heartbeat_age_s"] < 0:
        print("reader   none has attached: start one with  telering-reader --segment " + segment)
    else:
        state = "alive" if reader["alive"] else "NOT ALIVE (start one: telering-reader --segment " + segment + ")"
        print(f"reader   pid {reader['pid']}, heartbeat {reader['heartbeat_age_s']:.1f} s ago: {state}")
    print(f"counters lane claims {counters['lane_claims']}, fell back to the shared lane "
          f"{counters['lane_claim_failures']}, lanes lost {counters['lanes_lost']}, "
          f"names refused (table full) {counters['name_table_full']}")
    lanes = info["lanes"]
    print(f"lanes    {sum(1 for lane in lanes if lane['pid'])} in use")
    print(f"  {'lane':>4} {'pid':>8} {'tid':>8} {'records':>10} {'pending':>8} {'dropped':>8}")
    for lane in lanes:
        owner = (f"{lane['pid']:>8} {lane['tid']:>8}" if lane["pid"] else f"{'free':>8} {'':>8}")
        print(f"  {lane['lane']:>4} {owner} {lane['records']:>10} {lane['records'] - lane['consumed']:>8} "
              f"{lane['dropped']:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
