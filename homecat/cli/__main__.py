from homecat.cli import main

main()
