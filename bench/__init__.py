"""P2PChat benchmarks: one module per benchmark (`python -m bench.<name>`), all of them with
`python -m bench` (`make bench`). Raw results in bench/results/ (not committed), rendered into
docs/benchmarks.md."""
