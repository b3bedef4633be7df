package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/localaws"
)

// chromiumFlags keep headless Chromium on loopback. The background-networking flags stop most
// of its calls home, but Debian's launcher turns remote extensions back on, so it would still
// look up Google's update hosts; the resolver rule fails every name lookup but 127.0.0.1
// inside Chromium, before any DNS query leaves it. No proxy from the environment applies.
var chromiumFlags = []string{
	"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--no-proxy-server",
}

// pageTimeout bounds one page load in real time. virtualBudget is how long, in virtual
// milliseconds, Chromium lets the page run before dumping it; virtual time stands still while
// a request is in flight, so an open event stream holds the dump until the page closes it.
const (
	pageTimeout   = 30 * time.Second
	virtualBudget = 5000 // ms
)

// findChromium returns Debian's chromium, skipping the test without it, or failing it under
// H2K_REQUIRE_SERVICES=1 so that CI cannot pass by skipping.
func findChromium(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err == nil {
		return path
	}
	const why = "chromium not found in PATH: run make deps"
	if os.Getenv(localaws.EnvRequireServices) == "1" {
		t.Fatalf("%s (%s=1)", why, localaws.EnvRequireServices)
	}
	t.Skip(why)
	return ""
}

// dumpDOM loads url in a fresh headless Chromium and returns the DOM once the page has no
// request in flight and its virtual time budget is spent. It reports instead of failing,
// so that it can run beside the goroutine that drives the job.
func dumpDOM(ctx context.Context, chromium, profile, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, pageTimeout)
	defer cancel()
	args := append(slices.Clone(chromiumFlags), "--user-data-dir="+profile,
		fmt.Sprintf("--virtual-time-budget=%d", virtualBudget), "--dump-dom", url)
	cmd := exec.CommandContext(ctx, chromium, args...)
	// Nothing of the machine's profile is read or written.
	cmd.Env = append(os.Environ(), "HOME="+profile, "XDG_CONFIG_HOME="+profile,
		"XDG_CACHE_HOME="+profile)
	var stdout bytes.Buffer
	stderr := &tail{max: 20}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	cmd.WaitDelay = 5 * time.Second
	ownGroup(cmd)
	err := cmd.Run()
	endGroup(cmd)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return "", fmt.Errorf("chromium did not finish %s within %s; stderr:\n%s", url,
			pageTimeout, stderr)
	}
	if err != nil {
		return "", fmt.Errorf("chromium %s: %w; stderr:\n%s", url, err, stderr)
	}
	return stdout.String(), nil
}

// itemRE matches one line the page recorded; the page writes nothing else into <li>.
var itemRE = regexp.MustCompile(`<li>([^<]*)</li>`)

// received returns what the page recorded, one compact JSON array per record call.
func received(t *testing.T, dom string) []string {
	t.Helper()
	if !strings.Contains(dom, `id="received"`) {
		t.Fatalf("the dumped DOM is not the example page:\n%s", dom)
	}
	var out []string
	for _, m := range itemRE.FindAllStringSubmatch(dom, -1) {
		text := html.UnescapeString(m[1])
		if !json.Valid([]byte(text)) {
			t.Fatalf("recorded line %q is not JSON", text)
		}
		out = append(out, text)
	}
	return out
}

// tail keeps the last lines written to it: Chromium's stderr is mostly D-Bus noise, and
// only the end matters when it fails.
type tail struct {
	max   int
	lines []string
	part  string
}

func (w *tail) Write(b []byte) (int, error) {
	s := w.part + string(b)
	lines := strings.Split(s, "\n")
	w.part = lines[len(lines)-1]
	w.lines = append(w.lines, lines[:len(lines)-1]...)
	if n := len(w.lines) - w.max; n > 0 {
		w.lines = w.lines[n:]
	}
	return len(b), nil
}

func (w *tail) String() string { return strings.Join(append(w.lines, w.part), "\n") }
