package lambdaglue

import (
	"context"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
)

// Proxy returns the Lambda handler for a buffered REST route: the event becomes an
// *http.Request (its context carries the Lambda and API Gateway request contexts) and the
// handler's whole response becomes the proxy response. A handler that writes nothing answers
// 200, as net/http would, instead of the adapter's "status code not set" failure.
func Proxy(
	h http.Handler,
) func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return httpadapter.New(defaultStatus(h)).ProxyWithContext
}

// defaultStatus makes a handler that wrote nothing answer 200 OK.
func defaultStatus(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tw := &trackingWriter{ResponseWriter: w}
		h.ServeHTTP(tw, r)
		if !tw.wrote {
			w.WriteHeader(http.StatusOK)
		}
	})
}

// trackingWriter records whether the handler sent a status or a body.
type trackingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *trackingWriter) WriteHeader(code int) {
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *trackingWriter) Write(p []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the adapter's writer (its Flush, for one).
func (w *trackingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
