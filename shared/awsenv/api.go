package awsenv

import (
	"crypto/rand"
	"fmt"
	"strings"
	"time"

	"github.com/hyper2kvm/controlplane/shared/httpapi"
)

// APIOptions reads the HTTP layer's settings. STREAM_TOKEN_SECRET signs stream_url tokens
// (a random secret is made when it is unset, which suits one process but not a fleet of
// Lambda instances); CORS_ALLOW_ORIGINS is a comma list; H2K_CLIENT_TOKEN, H2K_WORKER_TOKEN
// and H2K_METRICS_TOKEN switch on bearer-token roles, as the local server uses them.
func APIOptions(getenv func(string) string) (httpapi.Options, error) {
	secret := []byte(getenv("STREAM_TOKEN_SECRET"))
	if len(secret) == 0 {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
	} else if len(secret) < 16 {
		return httpapi.Options{}, fmt.Errorf("STREAM_TOKEN_SECRET must be at least 16 bytes")
	}
	signer := &httpapi.StreamSigner{Secret: secret, TTL: time.Hour, Now: time.Now}
	o := httpapi.Options{StreamTokens: signer, PublicBaseURL: getenv("PUBLIC_BASE_URL"),
		AllowedOrigins: splitList(getenv("CORS_ALLOW_ORIGINS"))}
	for _, origin := range o.AllowedOrigins {
		if origin == "*" {
			return o, fmt.Errorf("CORS_ALLOW_ORIGINS: list origins; * is not allowed")
		}
	}
	client, worker := getenv("H2K_CLIENT_TOKEN"), getenv("H2K_WORKER_TOKEN")
	if client != "" || worker != "" {
		if client == "" || worker == "" || client == worker {
			return o, fmt.Errorf("H2K_CLIENT_TOKEN and H2K_WORKER_TOKEN must both be set and differ")
		}
		o.Auth = httpapi.BearerTokens{Client: client, Worker: worker,
			Metrics: first(getenv("H2K_METRICS_TOKEN"), client), Streams: signer}
	}
	return o, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
