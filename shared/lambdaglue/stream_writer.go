package lambdaglue

import (
	"io"
	"net/http"
)

// streamWriter is the http.ResponseWriter of a streamed handler. Its body goes into a pipe
// whose reader is the Lambda response body; io.Pipe has no buffer, so every Write is handed
// to the runtime before it returns and Flush has nothing left to push. All its methods run
// on the handler's goroutine, like any ResponseWriter's; the fields read by serveStream are
// written before ready is closed.
type streamWriter struct {
	pw          *io.PipeWriter
	header      http.Header
	wroteHeader bool
	ready       chan struct{}

	// Set when the header is committed, read by serveStream after ready is closed.
	status  int
	sent    http.Header
	failure error
}

func newStreamWriter(pw *io.PipeWriter) *streamWriter {
	return &streamWriter{pw: pw, header: make(http.Header), ready: make(chan struct{})}
}

func (w *streamWriter) Header() http.Header { return w.header }

// WriteHeader commits the status and a copy of the headers; later calls are ignored, and so
// are informational (1xx) codes, which a Lambda response cannot carry.
func (w *streamWriter) WriteHeader(code int) {
	if w.wroteHeader || code < http.StatusOK {
		return
	}
	w.commit(code)
}

// Write sends p to the client, committing a 200 header first if none was sent. Like net/http
// it sniffs a Content-Type when the handler set none.
func (w *streamWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		if _, ok := w.header["Content-Type"]; !ok && len(p) > 0 {
			w.header.Set("Content-Type", http.DetectContentType(p))
		}
		w.commit(http.StatusOK)
	}
	return w.pw.Write(p)
}

// Flush commits the header so the client sees it before the first event; written data is
// already on its way (see the type comment).
func (w *streamWriter) Flush() {
	if !w.wroteHeader {
		w.commit(http.StatusOK)
	}
}

func (w *streamWriter) commit(code int) {
	w.wroteHeader = true
	w.status = code
	w.sent = w.header.Clone()
	close(w.ready)
}

// finish runs when the handler has returned: it commits a header the handler never sent (200
// for an empty answer; for a panic serveStream reports failure instead) and ends the body,
// with err when the handler panicked.
func (w *streamWriter) finish(err error) {
	if !w.wroteHeader {
		w.failure = err
		w.commit(http.StatusOK)
	}
	_ = w.pw.CloseWithError(err)
}
