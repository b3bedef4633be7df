// Package lambdafn starts the Lambda functions. Each function's main calls one of these
// with its route name, so that every function is wired the same way: configuration from the
// environment, SDK clients built once at init, the shared handler handed to the runtime.
package lambdafn

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/hyper2kvm/controlplane/shared/awsenv"
	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/shared/httpapi"
	"github.com/hyper2kvm/controlplane/shared/lambdaglue"
	"github.com/hyper2kvm/controlplane/shared/metrics"
	"github.com/hyper2kvm/controlplane/shared/service"
)

// build reads the configuration and wires the service, exiting on a bad configuration so the
// function fails at init where the error is plain to see.
func build() (*service.Service, *slog.Logger, func(string) string) {
	ctx := context.Background()
	log := awsenv.Logger()
	cfg, err := awsenv.FromEnv(os.Getenv)
	if err != nil {
		fail(log, "configuration", err)
	}
	getenv, err := awsenv.ResolveParameters(ctx, cfg, os.Getenv, "STREAM_TOKEN_SECRET",
		"METRICS_SCRAPE_TOKEN")
	if err != nil {
		fail(log, "configuration", err)
	}
	svc, err := awsenv.Build(ctx, cfg, log)
	if err != nil {
		fail(log, "start", err)
	}
	return svc, log, getenv
}

func fail(log *slog.Logger, what string, err error) {
	log.Error(what, "error", err)
	os.Exit(2)
}

func api(svc *service.Service, log *slog.Logger, getenv func(string) string) *httpapi.API {
	opts, err := awsenv.APIOptions(getenv)
	if err != nil {
		fail(log, "configuration", err)
	}
	opts.Auth = httpapi.GatewayAuth{MetricsToken: getenv("METRICS_SCRAPE_TOKEN"),
		Streams: opts.StreamTokens, Identify: gatewayCaller}
	opts.Metrics = metrics.Handler(svc, log)
	opts.BaseURL = gatewayBaseURL
	return httpapi.New(svc, log, opts)
}

// gatewayCaller names who the gateway let in, for audit.requested_by: the Cognito user, the
// IAM identity, or the API key.
func gatewayCaller(r *http.Request) string {
	gw, ok := core.GetAPIGatewayContextFromContext(r.Context())
	if !ok {
		return ""
	}
	if claims, ok := gw.Authorizer["claims"].(map[string]any); ok {
		if u, ok := claims["cognito:username"].(string); ok && u != "" {
			return u
		}
	}
	if gw.Identity.UserArn != "" {
		return gw.Identity.UserArn
	}
	if gw.Identity.APIKeyID != "" {
		return "api-key:" + gw.Identity.APIKeyID
	}
	return ""
}

// gatewayBaseURL is the public URL of the API a request came through, stage included,
// which stream_url needs and which the template cannot pass in without a cycle.
func gatewayBaseURL(r *http.Request) string {
	gw, ok := core.GetAPIGatewayContextFromContext(r.Context())
	if !ok || gw.DomainName == "" {
		return ""
	}
	return "https://" + gw.DomainName + "/" + gw.Stage
}

// ServeRoute runs the function behind one REST route.
func ServeRoute(name string) {
	svc, log, getenv := build()
	h := api(svc, log, getenv).RouteHandler(name)
	lambda.Start(lambdaglue.Proxy(h))
}

// ServeStream runs the function behind the SSE route with response streaming.
func ServeStream(name string) {
	svc, log, getenv := build()
	lambda.Start(lambdaglue.Stream(api(svc, log, getenv).RouteHandler(name)))
}

// ServeSweeper runs the scheduled function that recovers expired leases and lost messages.
func ServeSweeper() {
	svc, log, _ := build()
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
	svc, log, _ := build()
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
