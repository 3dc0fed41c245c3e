#!/usr/bin/env bash
# Run the benchmarks of bench/ against their same-run baselines:
# scripts/bench.sh [startup|claims|device_poll|coap_poll|scale|fleet|all]
#
# For: measuring performance by hand or in a separate CI step. Not for the test suite.
# The work is done by scripts/bench.py (Python 3 standard library; its header lists the
# environment variables); this wrapper only keeps the documented command.
exec python3 "$(dirname "$0")/bench.py" "$@"
