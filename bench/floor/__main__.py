from bench.floor.server import main

main()
