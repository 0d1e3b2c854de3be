from aimon.cli.app import main

main()
