from aimon.cli import main

main()
