package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
)

// DefaultAPI is where h2k looks for the API when neither --api nor H2K_API says otherwise:
// the local server that `make run` starts.
const DefaultAPI = "http://127.0.0.1:8080"

// globals are the flags every command accepts, before or after its name.
type globals struct {
	api      string
	token    string
	envToken string
	json     bool
}

// defaults reads the environment; flags given later override it.
func (g *globals) defaults(getenv func(string) string) {
	g.api = DefaultAPI
	if v := getenv("H2K_API"); v != "" {
		g.api = v
	}
	g.envToken = getenv("H2K_TOKEN")
}

// bearer is the token to send: the flag when given, else the environment's. The
// environment's value is never a flag default, so help output cannot print the secret.
func (g *globals) bearer() string {
	if g.token != "" {
		return g.token
	}
	return g.envToken
}

func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.api, "api", g.api, "API base URL (env H2K_API)")
	fs.StringVar(&g.token, "token", "", "bearer token (env H2K_TOKEN; preferred, "+
		"since flags show in the process list)")
	fs.BoolVar(&g.json, "json", g.json, "print machine-readable JSON")
}

// check rejects an API URL that could only fail later with a confusing network error.
func (g *globals) check() error {
	u, err := url.Parse(g.api)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("--api %q: want an http:// or https:// URL", g.api)
	}
	return nil
}

// newFlags builds a command's flag set with the global flags already on it.
func newFlags(name string, g *globals) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	g.register(fs)
	return fs
}

// parseArgs parses flags wherever they appear, so `h2k submit job.json --monitor` works
// like `h2k submit --monitor job.json`; "--" ends the flags. It returns the positionals.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, flagError(fs, err)
		}
		rest := fs.Args()
		used := len(args) - len(rest)
		if used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// errHelp asks for the command's help text; it is not a failure.
var errHelp = errors.New("help requested")

func flagError(fs *flag.FlagSet, err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return errHelp
	}
	return usagef("%s: %v", fs.Name(), err)
}

// rangeInt is an int flag with a range, checked when parsed so a bad value is a usage
// error (exit 2) rather than an API error.
type rangeInt struct {
	v      *int
	lo, hi int
}

func (r rangeInt) String() string {
	if r.v == nil {
		return "0"
	}
	return strconv.Itoa(*r.v)
}

func (r rangeInt) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < r.lo || n > r.hi {
		return fmt.Errorf("want a number from %d to %d", r.lo, r.hi)
	}
	*r.v = n
	return nil
}
