package localaws_test

import (
	"bufio"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
)

// checkLoopbackOnly fails t unless every socket listening on endpoint's port is bound to a
// loopback address, as the kernel reports it in /proc/net/tcp and /proc/net/tcp6.
func checkLoopbackOnly(t *testing.T, endpoint string) {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatalf("parse %s: %v", endpoint, err)
	}
	port, _ := strconv.Atoi(u.Port())
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skipf("no /proc/net/tcp to read listeners from: %v", err)
	}
	var found []net.IP
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		found = append(found, listeners(t, table, port)...)
	}
	if len(found) == 0 {
		t.Fatalf("no listening socket on port %d", port)
	}
	for _, ip := range found {
		if !ip.IsLoopback() {
			t.Errorf("port %d listens on %s, want loopback only", port, ip)
		}
	}
}

// listeners returns the local addresses of sockets in LISTEN state on port in one table.
func listeners(t *testing.T, table string, port int) []net.IP {
	t.Helper()
	f, err := os.Open(table)
	if os.IsNotExist(err) {
		return nil // no IPv6 on this kernel
	}
	if err != nil {
		t.Fatalf("open %s: %v", table, err)
	}
	defer f.Close()
	var ips []net.IP
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || fields[3] != "0A" { // 0A is TCP_LISTEN
			continue
		}
		ip, p := parseProcAddr(t, fields[1])
		if p == port {
			ips = append(ips, ip)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read %s: %v", table, err)
	}
	return ips
}

// parseProcAddr decodes "0100007F:1F40": the address is hex in host order (little endian on
// the machines we run on) per 32-bit word, the port plain hex.
func parseProcAddr(t *testing.T, s string) (net.IP, int) {
	t.Helper()
	host, portHex, ok := strings.Cut(s, ":")
	raw, err := hex.DecodeString(host)
	port, perr := strconv.ParseUint(portHex, 16, 16)
	if !ok || err != nil || perr != nil || len(raw)%4 != 0 {
		t.Fatalf("bad address %q in /proc/net", s)
	}
	for i := 0; i < len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	return net.IP(raw), int(port)
}
