// Package cli is the h2k command-line tool: every command, its flags and its output. The
// binary in cmd/h2k only wires the process (arguments, terminals, signals) to Run, so tests
// drive exactly the code users run, against a fake API in memory.
//
// Exit codes are part of the interface, because scripts branch on them:
//
//	0    success; for submit --monitor and monitor: the job ended COMPLETED
//	1    the job ended FAILED
//	2    usage error: unknown command or flag, wrong arguments, unreadable input file
//	3    API or network error: the API's error envelope, an unreachable API, a broken stream
//	4    the job ended CANCELLED
//	130  interrupted (Ctrl-C) before the command finished
//
// Errors are printed to stderr as "h2k: <message>", using the message of the API's error
// envelope where there is one, and never as a stack trace.
package cli
