package cli

import (
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/hyper2kvm/controlplane/shared/client"
)

// Env is everything a command touches outside the process, so tests run commands in memory
// with a fake API, a fake terminal and a pinned clock.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// TTY says Stdout is a terminal: monitor then redraws one live progress line instead
	// of printing a line per event, which would flood a log file.
	TTY bool
	// Width is the terminal width in columns; 0 means 80.
	Width int
	// Now is the clock behind rates and ETAs when events carry no timestamp.
	Now func() time.Time
	// HTTP replaces the client's HTTP client when set.
	HTTP *http.Client
	// Reconnects is the reconnect limit monitor hands to client.Watch; 0 means 10.
	Reconnects int
}

// OSEnv is the Env of the real process.
func OSEnv() Env {
	width := termWidth(os.Stdout)
	if width <= 0 {
		width, _ = strconv.Atoi(os.Getenv("COLUMNS"))
	}
	return Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv,
		TTY: isTerminal(os.Stdout) && os.Getenv("TERM") != "dumb", Width: width, Now: time.Now}
}

// isTerminal tells a terminal from a file or pipe without a terminal library: terminals
// are character devices. So is /dev/null, where the difference cannot be seen.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// app is one invocation: the environment plus the parsed global flags.
type app struct {
	env Env
	g   globals
	cmd command
}

// Run executes one h2k command line (without the program name) and returns the exit code.
func Run(ctx context.Context, args []string, env Env) int {
	env = env.withDefaults()
	a := &app{env: env}
	a.g.defaults(env.Getenv)
	err := a.run(ctx, args)
	if errors.Is(err, errHelp) {
		return ExitOK
	}
	if err != nil {
		report(env.Stderr, a.g.api, err)
	}
	return exitCode(err)
}

func (e Env) withDefaults() Env {
	if e.Stdin == nil {
		e.Stdin = eofReader{}
	}
	if e.Stdout == nil {
		e.Stdout = io.Discard
	}
	if e.Stderr == nil {
		e.Stderr = io.Discard
	}
	if e.Getenv == nil {
		e.Getenv = func(string) string { return "" }
	}
	if e.Now == nil {
		e.Now = time.Now
	}
	if e.Width <= 0 {
		e.Width = 80
	}
	if e.Reconnects <= 0 {
		e.Reconnects = 10
	}
	return e
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// run reads the global flags up to the command name, then hands the rest to the command.
func (a *app) run(ctx context.Context, args []string) error {
	fs := newFlags("h2k", &a.g)
	if err := fs.Parse(args); err != nil {
		err = flagError(fs, err)
		if errors.Is(err, errHelp) {
			printHelp(a.env.Stdout)
		}
		return err
	}
	if fs.NArg() == 0 {
		return usagef("no command given")
	}
	name, rest := fs.Arg(0), fs.Args()[1:]
	if name == "help" {
		return a.help(ctx, rest)
	}
	cmd, ok := lookup(name)
	if !ok {
		return usagef("unknown command %q", name)
	}
	a.cmd = cmd
	return cmd.run(ctx, a, rest)
}

// help prints the overview, or a command's own help with its flags.
func (a *app) help(ctx context.Context, args []string) error {
	if len(args) == 0 {
		printHelp(a.env.Stdout)
		return nil
	}
	cmd, ok := lookup(args[0])
	if !ok {
		return usagef("unknown command %q", args[0])
	}
	a.cmd = cmd
	return cmd.run(ctx, a, []string{"-h"})
}

// flags starts the flag set of the running command.
func (a *app) flags() *flag.FlagSet { return newFlags(a.cmd.name, &a.g) }

// parse parses the command's flags and checks its positional arguments; -h prints the
// command's help.
func (a *app) parse(fs *flag.FlagSet, args []string, min, max int) ([]string, error) {
	pos, err := parseArgs(fs, args)
	if errors.Is(err, errHelp) {
		printCommandHelp(a.env.Stdout, a.cmd, fs)
	}
	if err != nil {
		return nil, err
	}
	if len(pos) < min || len(pos) > max {
		return nil, usagef("usage: h2k %s %s", a.cmd.name, a.cmd.args)
	}
	return pos, nil
}

// client builds the API client once the flags are final.
func (a *app) client() (*client.Client, error) {
	if err := a.g.check(); err != nil {
		return nil, err
	}
	c := client.New(a.g.api, a.g.bearer())
	if a.env.HTTP != nil {
		c.HTTP = a.env.HTTP
	}
	return c, nil
}
