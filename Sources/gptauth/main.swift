// gptauth — the operator's command line: set up the data folder, register GPTs, list users.
import GPTAuthCore

GPTAuthCommand.main()
