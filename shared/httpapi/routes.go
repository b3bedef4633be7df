package httpapi

// Route is one REST endpoint. Name is also the folder of its Lambda function under
// functions/ and the logical id stem in template.yaml, so the three cannot drift apart.
type Route struct {
	Name   string
	Method string
	Path   string // API Gateway style: /jobs/{id}
	// Role says who may call it: "client", "worker" or "public".
	Role string
	// Stream marks the route served with response streaming.
	Stream bool
}

// Routes is the whole REST surface. The local server mounts exactly these, and a test
// compares them with template.yaml.
var Routes = []Route{
	{Name: "submit-job", Method: "POST", Path: "/jobs", Role: "client"},
	{Name: "list-jobs", Method: "GET", Path: "/jobs", Role: "client"},
	{Name: "get-job", Method: "GET", Path: "/jobs/{id}", Role: "client"},
	{Name: "cancel-job", Method: "DELETE", Path: "/jobs/{id}", Role: "client"},
	{Name: "queue-job", Method: "POST", Path: "/jobs/{id}/queue", Role: "client"},
	{Name: "list-events", Method: "GET", Path: "/jobs/{id}/events", Role: "client"},
	{Name: "stream-events", Method: "GET", Path: "/jobs/{id}/events/stream", Role: "client",
		Stream: true},
	{Name: "report-event", Method: "POST", Path: "/jobs/{id}/events", Role: "worker"},
	{Name: "report-result", Method: "POST", Path: "/jobs/{id}/result", Role: "worker"},
	{Name: "register-worker", Method: "POST", Path: "/workers/register", Role: "worker"},
	{Name: "worker-heartbeat", Method: "POST", Path: "/workers/{id}/heartbeat", Role: "worker"},
	{Name: "list-workers", Method: "GET", Path: "/workers", Role: "client"},
	{Name: "unregister-worker", Method: "DELETE", Path: "/workers/{id}", Role: "worker"},
	{Name: "queue-status", Method: "GET", Path: "/queue", Role: "client"},
	{Name: "dequeue", Method: "POST", Path: "/queue/dequeue", Role: "worker"},
	{Name: "health", Method: "GET", Path: "/health", Role: "public"},
	{Name: "metrics", Method: "GET", Path: "/metrics", Role: "metrics"},
	{Name: "openapi", Method: "GET", Path: "/openapi.json", Role: "public"},
	{Name: "docs", Method: "GET", Path: "/docs", Role: "public"},
}
