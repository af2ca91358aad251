from ohlora_cli.cli import main

main()
