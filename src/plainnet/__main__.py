from plainnet.app.cli import main

main()
