package lambdaglue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"
)

// ErrHandlerPanic marks a streamed handler that panicked. Before the header was sent, the
// Lambda handler returns it (API Gateway answers 502); after, the body ends with it, so the
// runtime reports the invocation as failed instead of passing off a cut stream as complete.
var ErrHandlerPanic = errors.New("stream handler panicked")

// Stream returns the Lambda handler for a REST route integrated with response streaming
// (ResponseTransferMode: RESPONSE_STREAM). h runs in its own goroutine; once it sends its
// header (WriteHeader, its first Write or Flush) the status and headers go out, then each
// Write reaches the client as the runtime reads it. The request context carries the Lambda
// deadline and is cancelled when h must stop: the deadline passed, or the runtime closed the
// body because the client went away. h must return once its context is done.
//
// The response is returned as a pointer: only then does the runtime stream it; by value it
// would be marshalled as ordinary JSON. Closing its Body (the runtime does so when the
// invocation ends) cancels h and waits for it, so no goroutine outlives the invocation.
func Stream(h http.Handler) func(
	context.Context, events.APIGatewayProxyRequest,
) (*events.APIGatewayProxyStreamingResponse, error) {
	var acc core.RequestAccessor
	return func(ctx context.Context, ev events.APIGatewayProxyRequest) (*streamResponse, error) {
		req, err := acc.EventToRequestWithContext(ctx, ev)
		if err != nil {
			return nil, fmt.Errorf("convert proxy event: %w", err)
		}
		return serveStream(req, h)
	}
}

// streamResponse shortens the runtime's streaming response type in signatures.
type streamResponse = events.APIGatewayProxyStreamingResponse

// serveStream starts h and returns as soon as its header is known.
func serveStream(req *http.Request, h http.Handler) (*streamResponse, error) {
	ctx, cancel := context.WithCancel(req.Context())
	pr, pw := io.Pipe()
	w := newStreamWriter(pw)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cancel()
		w.finish(serve(h, w, req.WithContext(ctx)))
	}()
	<-w.ready
	body := &streamBody{r: pr, cancel: cancel, done: done}
	if w.failure != nil {
		_ = body.Close()
		return nil, w.failure
	}
	return &streamResponse{
		StatusCode:        w.status,
		MultiValueHeaders: w.sent,
		Body:              body,
	}, nil
}

// serve runs h, turning a panic into an error: an unrecovered panic in this goroutine would
// kill the process without the runtime reporting the invocation.
func serve(h http.Handler, w http.ResponseWriter, r *http.Request) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%w: %v", ErrHandlerPanic, v)
		}
	}()
	h.ServeHTTP(w, r)
	return nil
}

// streamBody is the streamed response body. Close stops the handler and waits for it.
type streamBody struct {
	r      *io.PipeReader
	cancel context.CancelFunc
	done   <-chan struct{}
}

func (b *streamBody) Read(p []byte) (int, error) { return b.r.Read(p) }

// Close cancels the handler's context, fails its pending and later writes, and waits until
// it has returned.
func (b *streamBody) Close() error {
	b.cancel()
	err := b.r.Close()
	<-b.done
	return err
}
