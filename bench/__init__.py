"""P2PChat benchmarks: one script per benchmark (`python -m bench.<name>`), all of them with
`python -m bench` (`make bench`). Results in bench/results/, write-up in docs/benchmarks.md."""
