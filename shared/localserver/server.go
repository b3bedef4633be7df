// Package localserver runs the whole API in one process on 127.0.0.1: every route of the
// REST surface on the same handlers the Lambda functions use, plus the sweeper and the
// dead-letter consumer on a ticker where AWS would run them on a schedule and an SQS trigger.
package localserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hyper2kvm/controlplane/shared/service"
)

// Config tunes the local server.
type Config struct {
	// Addr is host:port; the host must be a loopback address.
	Addr string
	// SweepEvery is how often expired leases, due retries and dead letters are handled.
	SweepEvery time.Duration
}

// Server is the running local API.
type Server struct {
	svc  *service.Service
	http *http.Server
	cfg  Config
	log  *slog.Logger
	ln   net.Listener
}

// New binds the listener at once, so the caller knows the port (with Addr ":0" style ports)
// before serving and a busy port fails at start.
func New(svc *service.Service, h http.Handler, cfg Config, log *slog.Logger) (*Server, error) {
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("local server address %q: %w", cfg.Addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("local server address %q: only loopback addresses are allowed",
			cfg.Addr)
	}
	if cfg.SweepEvery <= 0 {
		cfg.SweepEvery = 5 * time.Second
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	return &Server{svc: svc, http: srv, cfg: cfg, log: log, ln: ln}, nil
}

// URL is the base URL the server answers on.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Run serves until ctx ends, then shuts down: new connections stop at once, open requests
// (streams included) get a few seconds to finish.
func (s *Server) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { s.sweep(ctx) })
	errc := make(chan error, 1)
	go func() { errc <- s.http.Serve(s.ln) }()
	s.log.InfoContext(ctx, "local API listening", "url", s.URL())
	var err error
	select {
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		err = s.http.Shutdown(shut)
		if errors.Is(err, context.DeadlineExceeded) {
			err = s.http.Close()
		}
	case err = <-errc:
	}
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (s *Server) sweep(ctx context.Context) {
	t := time.NewTicker(s.cfg.SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.sweepOnce(ctx)
		}
	}
}

func (s *Server) sweepOnce(ctx context.Context) {
	rep, err := s.svc.Sweep(ctx)
	if err != nil && ctx.Err() == nil {
		s.log.WarnContext(ctx, "sweep", "error", err)
	}
	if rep != (service.SweepReport{}) {
		s.log.InfoContext(ctx, "sweep", "requeued", rep.Requeued, "worker_lost", rep.WorkerLost,
			"redispatched", rep.Redispatched)
	}
	if n, err := s.svc.DrainDeadLetters(ctx); err != nil && ctx.Err() == nil {
		s.log.WarnContext(ctx, "dead letters", "error", err)
	} else if n > 0 {
		s.log.InfoContext(ctx, "dead letters handled", "count", n)
	}
}
