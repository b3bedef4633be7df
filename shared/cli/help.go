package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
)

// command is one h2k subcommand.
type command struct {
	name    string
	args    string // the synopsis after the name
	summary string
	run     func(ctx context.Context, a *app, args []string) error
}

// commands lists the subcommands in the order the help shows them.
var commands = []command{
	{"health", "", "show the API's health", runHealth},
	{"submit", "[job.json|-] [--queue=false] [--monitor]",
		"submit a job spec from a file or stdin", runSubmit},
	{"monitor", "<job-id>", "follow a job's progress until it ends", runMonitor},
	{"get", "<job-id>", "print a job as JSON", runGet},
	{"list", "[--state S] [--limit N] [--all] [--next CURSOR]", "list jobs", runList},
	{"cancel", "<job-id>", "cancel a job", runCancel},
	{"queue-job", "<job-id>", "queue a job submitted with --queue=false", runQueueJob},
	{"events", "<job-id> [--after N] [--since T]", "print a job's progress events",
		runEvents},
	{"register", "<registration.json|->", "register a worker (a worker route: it takes a " +
		"worker token)", runRegister},
	{"workers", "", "list workers", runWorkers},
	{"queue", "", "show queue depths", runQueue},
}

func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

const helpTail = `
Global flags (before or after the command):
  --api URL     API base URL (env H2K_API, default ` + DefaultAPI + `)
  --token T     bearer token (env H2K_TOKEN; prefer the variable: flags show in ps)
  --json        machine-readable output: JSON documents; monitor prints one JSON object
                per event and one for the end

Exit codes:
  0    success; for submit --monitor and monitor: the job ended COMPLETED
  1    the job ended FAILED
  2    usage error (unknown command or flag, wrong arguments, unreadable input file)
  3    API or network error (the API's error message is printed)
  4    the job ended CANCELLED
  130  interrupted

Run 'h2k help <command>' for a command's flags.
`

// printHelp prints the overview that `h2k help` shows.
func printHelp(w io.Writer) {
	fmt.Fprintln(w, "h2k talks to the hyper2kvm job API.\n\nUsage: h2k [global flags] "+
		"<command> [arguments]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "  %-10s %s\n", "help", "show this help, or a command's")
	fmt.Fprint(w, helpTail)
}

// printCommandHelp prints one command's synopsis and flags.
func printCommandHelp(w io.Writer, c command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: h2k %s %s\n\n%s.\n\nFlags:\n", c.name, c.args,
		upperFirst(c.summary))
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
