// Package lambdafn starts the Lambda functions. Each function's main calls one of these
// with its route name, so that every function is wired the same way: configuration from the
// environment, SDK clients built once at init, the shared handler handed to the runtime.
package lambdafn

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/hyper2kvm/controlplane/shared/awsenv"
	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/shared/httpapi"
	"github.com/hyper2kvm/controlplane/shared/lambdaglue"
	"github.com/hyper2kvm/controlplane/shared/metrics"
	"github.com/hyper2kvm/controlplane/shared/service"
)

// build reads the configuration and wires the service, exiting on a bad configuration so the
// function fails at init where the error is plain to see.
func build() (*service.Service, *slog.Logger) {
	log := awsenv.Logger()
	cfg, err := awsenv.FromEnv(os.Getenv)
	if err != nil {
		log.Error("configuration", "error", err)
		os.Exit(2)
	}
	svc, err := awsenv.Build(context.Background(), cfg, log)
	if err != nil {
		log.Error("start", "error", err)
		os.Exit(1)
	}
	return svc, log
}

func api(svc *service.Service, log *slog.Logger) *httpapi.API {
	opts, err := awsenv.APIOptions(os.Getenv)
	if err != nil {
		log.Error("configuration", "error", err)
		os.Exit(2)
	}
	opts.Auth = httpapi.GatewayAuth{MetricsToken: os.Getenv("METRICS_TOKEN"),
		Streams: opts.StreamTokens}
	opts.Metrics = metrics.Handler(svc, log)
	return httpapi.New(svc, log, opts)
}

// ServeRoute runs the function behind one REST route.
func ServeRoute(name string) {
	svc, log := build()
	h := api(svc, log).RouteHandler(name)
	lambda.Start(lambdaglue.Proxy(h))
}

// ServeStream runs the function behind the SSE route with response streaming.
func ServeStream(name string) {
	svc, log := build()
	lambda.Start(lambdaglue.Stream(api(svc, log).RouteHandler(name)))
}

// ServeSweeper runs the scheduled function that recovers expired leases and lost messages.
func ServeSweeper() {
	svc, log := build()
	lambda.Start(func(ctx context.Context, _ events.CloudWatchEvent) (service.SweepReport, error) {
		rep, err := svc.Sweep(ctx)
		if err != nil {
			lambdaglue.WithRequestID(ctx, log).ErrorContext(ctx, "sweep", "error", err)
		}
		return rep, err
	})
}

// ServeDeadLetters runs the function that fails the jobs of dead-lettered messages,
// reporting per-message failures so that only those are retried.
func ServeDeadLetters() {
	svc, log := build()
	lambda.Start(func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		return HandleDeadLetters(ctx, svc, lambdaglue.WithRequestID(ctx, log), ev), nil
	})
}

// HandleDeadLetters is the dead-letter function's body, exported for tests.
func HandleDeadLetters(ctx context.Context, svc *service.Service, log *slog.Logger,
	ev events.SQSEvent) events.SQSEventResponse {
	var resp events.SQSEventResponse
	for _, rec := range ev.Records {
		var d domain.Dispatch
		if err := json.Unmarshal([]byte(rec.Body), &d); err != nil || !domain.ValidID(d.JobID) {
			log.WarnContext(ctx, "dead letter is not a dispatch; dropped", "message_id", rec.MessageId)
			continue
		}
		receives := 0
		_ = json.Unmarshal([]byte(rec.Attributes["ApproximateReceiveCount"]), &receives)
		if err := svc.DeadLetter(ctx, d, receives); err != nil {
			log.ErrorContext(ctx, "dead letter", "job_id", d.JobID, "error", err)
			resp.BatchItemFailures = append(resp.BatchItemFailures,
				events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
		}
	}
	return resp
}
