from homecat.cli import main

# guarded: validate's worker processes (spawn) import this module again
if __name__ == "__main__":
    main()
