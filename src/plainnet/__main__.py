from plainnet.cli import main

main()
