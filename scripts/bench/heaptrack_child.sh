#!/bin/sh
# gcc -wrapper helper for scripts/bench.py: runs one of gcc's children (cc1, as, ...) under
# heaptrack, each into its own file DIR/ht.<program>.<pid>.zst.
#
#   gcc -wrapper scripts/bench/heaptrack_child.sh,DIR ...
#
# (heaptrack 1.4's own `-o FILE.%p` does not work: the script expands %p, then overwrites
# the result with `readlink -f` of the raw argument, so all children write one file.)
dir=$1
shift
exec heaptrack -o "$dir/ht.$(basename "$1").$$" "$@"
