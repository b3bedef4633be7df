package lambdaglue

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"
)

// WithRequestID returns log with the invocation's ids attached, so every record of one
// invocation can be found together: request_id is the Lambda request id (the one in the
// function's REPORT line), apigw_request_id the API Gateway request id (the one in access
// logs and in the x-amzn-RequestId response header). ctx is the invocation context or the
// context of a request made by Proxy or Stream; ids it does not carry are left out.
func WithRequestID(ctx context.Context, log *slog.Logger) *slog.Logger {
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		log = log.With(slog.String("request_id", lc.AwsRequestID))
	}
	if gw, ok := core.GetAPIGatewayContextFromContext(ctx); ok && gw.RequestID != "" {
		log = log.With(slog.String("apigw_request_id", gw.RequestID))
	}
	return log
}
