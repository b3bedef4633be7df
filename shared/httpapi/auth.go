package httpapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// Authenticator decides whether a request may call a route and names the caller.
type Authenticator interface {
	Authenticate(r *http.Request, rt Route) (caller string, err error)
}

// Open lets everyone in. In AWS the gateway has already authenticated the caller (API key,
// Cognito or IAM per route), so the functions use it there.
type Open struct{}

// Authenticate always succeeds.
func (Open) Authenticate(*http.Request, Route) (string, error) { return "", nil }

// BearerTokens enforces the client/worker/metrics split with one bearer token per role, the
// local stand-in for the gateway's API keys and IAM. A client token never opens worker
// routes and vice versa.
type BearerTokens struct {
	Client, Worker, Metrics string
	// Streams, when set, also admits a stream route carrying a valid signed access_token.
	Streams *StreamSigner
}

// Authenticate checks the Authorization header against the route's role.
func (b BearerTokens) Authenticate(r *http.Request, rt Route) (string, error) {
	if rt.Role == "public" {
		return "", nil
	}
	want := map[string]string{"client": b.Client, "worker": b.Worker, "metrics": b.Metrics}[rt.Role]
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if ok && want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1 {
		return rt.Role, nil
	}
	if rt.Stream && b.Streams != nil {
		if err := b.Streams.Verify(r.PathValue("id"), r.URL.Query().Get("access_token")); err == nil {
			return "stream-token", nil
		}
	}
	if !ok || got == "" {
		return "", domain.Errorf(domain.KindUnauthorized,
			"this route needs a %s bearer token in the Authorization header", rt.Role)
	}
	return "", domain.Errorf(domain.KindForbidden, "the token given is not valid for %s routes",
		rt.Role)
}

type callerKey struct{}

func withCaller(ctx context.Context, caller string) context.Context {
	return context.WithValue(ctx, callerKey{}, caller)
}

func callerOf(ctx context.Context) string {
	s, _ := ctx.Value(callerKey{}).(string)
	return s
}

// StreamSigner issues and checks short-lived tokens that open one job's event stream, for
// browsers whose EventSource cannot send an Authorization header.
type StreamSigner struct {
	Secret []byte
	TTL    time.Duration
	Now    func() time.Time
}

// Sign returns a token for job id.
func (s *StreamSigner) Sign(id string) string {
	exp := s.Now().Add(s.TTL).Unix()
	return strconv.FormatInt(exp, 10) + "." + s.mac(id, exp)
}

func (s *StreamSigner) mac(id string, exp int64) string {
	m := hmac.New(sha256.New, s.Secret)
	fmt.Fprintf(m, "stream\x00%s\x00%d", id, exp)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Verify checks a token for job id.
func (s *StreamSigner) Verify(id, token string) error {
	expS, sig, ok := strings.Cut(token, ".")
	exp, err := strconv.ParseInt(expS, 10, 64)
	if !ok || err != nil || !hmac.Equal([]byte(sig), []byte(s.mac(id, exp))) {
		return domain.Errorf(domain.KindForbidden, "the stream token is not valid for this job")
	}
	if s.Now().Unix() > exp {
		return domain.Errorf(domain.KindForbidden, "the stream token has expired")
	}
	return nil
}

// cors answers allowed cross-origin callers; others get no CORS headers and the browser
// refuses the response. Credentials are never combined with a wildcard.
func (a *API) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		allowed := origin != "" && slices.Contains(a.opts.AllowedOrigins, origin)
		if allowed {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			h.Set("Access-Control-Allow-Headers",
				"Authorization, Content-Type, Last-Event-ID, X-Lease-Token, X-Api-Key")
			h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
			h.Set("Access-Control-Max-Age", "600")
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if allowed {
				w.WriteHeader(http.StatusNoContent)
			} else {
				a.writeError(w, r, domain.Errorf(domain.KindForbidden,
					"origin %q is not allowed to call this API", origin))
			}
			return
		}
		next.ServeHTTP(w, r)
	})
}

// GatewayAuth is the authenticator behind API Gateway, which has already checked API keys,
// Cognito tokens or IAM signatures on every route it guards. Two routes are open at the
// gateway and checked here instead: /metrics, with the scrape token Prometheus sends, and the
// stream route, with the signed token of stream_url, since a browser's EventSource cannot
// send credentials.
type GatewayAuth struct {
	MetricsToken string
	Streams      *StreamSigner
	// Identify names the caller the gateway authenticated (API key id, user, role ARN).
	Identify func(*http.Request) string
}

// Authenticate applies the two in-function checks and trusts the gateway for the rest.
func (g GatewayAuth) Authenticate(r *http.Request, rt Route) (string, error) {
	switch {
	case rt.Role == "metrics":
		return BearerTokens{Metrics: g.MetricsToken}.Authenticate(r, rt)
	case rt.Stream:
		if err := g.Streams.Verify(r.PathValue("id"), r.URL.Query().Get("access_token")); err != nil {
			return "", err
		}
		return "stream-token", nil
	}
	if g.Identify != nil {
		if id := g.Identify(r); id != "" {
			return id, nil
		}
	}
	return "gateway", nil
}
