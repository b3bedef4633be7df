package httpapi_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/shared/httpapi"
	"github.com/hyper2kvm/controlplane/shared/stacktest"
)

// hostile is one bad request and the status it must get.
type hostile struct {
	method, path, body string
	auth               string // "client", "worker", "none" or a literal header value
	want               int
	headers            []string
}

func hostileRequests() []hostile {
	long := strings.Repeat("a", 129)
	big := `{"job_id": "big", "operation": "convert", "image": {"path": "/` +
		strings.Repeat("x", 2<<20) + `"}}`
	deep := strings.Repeat(`{"a":`, 200) + "1" + strings.Repeat("}", 200)
	spec := func(frag string) string {
		return `{"job_id": "new-job", "operation": "convert", ` + frag + `}`
	}
	img := `"image": {"path": "/data/vm.vmdk"}`
	return []hostile{
		{"POST", "/jobs", "", "client", 400, nil},
		{"POST", "/jobs", "[]", "client", 400, nil},
		{"POST", "/jobs", "null", "client", 400, nil},
		{"POST", "/jobs", `{"job_id": "x"`, "client", 400, nil},
		{"POST", "/jobs", "\xff\xfe{}", "client", 400, nil},
		{"POST", "/jobs", deep, "client", 400, nil},
		{"POST", "/jobs", big, "client", 413, nil},
		{"POST", "/jobs", spec(img + `, "surprise": 1`), "client", 400, nil},
		{"POST", "/jobs", spec(`"image": {"path": "/d", "fromat": "vmdk"}`), "client", 400, nil},
		{"POST", "/jobs", spec(`"image": {"path": 7}`), "client", 400, nil},
		{"POST", "/jobs", spec(`"image": {"path": "../../etc/passwd"}`), "client", 400, nil},
		{"POST", "/jobs", spec(`"image": {"path": "/d", "format": "iso"}`), "client", 400, nil},
		{"POST", "/jobs", spec(`"image": {"path": "/d", "size_bytes": -1}`), "client", 400, nil},
		{"POST", "/jobs", spec(`"image": {"path": "/d", "checksum": "md5:00"}`), "client", 400, nil},
		{"POST", "/jobs", spec(`"image": {"path": "/d\u0000x"}`), "client", 400, nil},
		{"POST", "/jobs", spec(`"image": {"path": "s3://b/k"}`), "client", 400, nil},
		{"POST", "/jobs", spec(img + `, "execution_policy": {"priority": 0}`), "client", 400, nil},
		{"POST", "/jobs", spec(img + `, "execution_policy": {"priority": 1e400}`), "client", 400, nil},
		{"POST", "/jobs", spec(img + `, "execution_policy": {"priority": "1"}`), "client", 400, nil},
		{"POST", "/jobs", spec(img + `, "execution_policy": {"timeout_seconds": 86401}`),
			"client", 400, nil},
		{"POST", "/jobs", spec(img + `, "execution_policy": {"retry_count": -1}`), "client", 400, nil},
		{"POST", "/jobs", spec(img + `, "parameters": {"output_format": "vmdk"}`), "client", 400, nil},
		{"POST", "/jobs", spec(img + `, "parameters": {"compress": "yes"}`), "client", 400, nil},
		{"POST", "/jobs", spec(img + `, "capability_requirements": {"min_memory_gb": 0}`),
			"client", 400, nil},
		{"POST", "/jobs", spec(img + `, "audit_info": {"tags": [1, 2]}`), "client", 400, nil},
		{"POST", "/jobs", `{"job_id": "../x", "operation": "convert", ` + img + `}`, "client", 400, nil},
		{"POST", "/jobs", `{"job_id": "` + long + `", "operation": "convert", ` + img + `}`,
			"client", 400, nil},
		{"POST", "/jobs", `{"job_id": "ok", "operation": "format_c", ` + img + `}`, "client", 400, nil},
		{"POST", "/jobs?queue=maybe", spec(img), "client", 400, nil},
		{"POST", "/jobs?qeue=true", spec(img), "client", 400, nil},
		{"POST", "/jobs", spec(img), "none", 401, nil},
		{"POST", "/jobs", spec(img), "worker", 403, nil},
		{"POST", "/jobs", spec(`"image": {"path": "/data/vm.vmdk"}, "version": "2.0"`), "client", 400, nil},
		{"POST", "/jobs", spec(img), "client", 409, nil}, // same id as existing, other spec
		{"GET", "/jobs?state=DONE", "", "client", 400, nil},
		{"GET", "/jobs?limit=0", "", "client", 400, nil},
		{"GET", "/jobs?limit=1001", "", "client", 400, nil},
		{"GET", "/jobs?next=not-a-cursor", "", "client", 400, nil},
		{"GET", "/jobs?next=eyJzIjoiIiwiayI6eyJqb2JfaWQiOiJ4In19", "", "client", 400, nil},
		{"GET", "/jobs/%2e%2e", "", "client", 400, nil},
		{"GET", "/jobs/a%00b", "", "client", 400, nil},
		{"GET", "/jobs/" + long, "", "client", 400, nil},
		{"GET", "/jobs/nope", "", "client", 404, nil},
		{"DELETE", "/jobs/nope", "", "client", 404, nil},
		{"POST", "/jobs/nope/queue", "", "client", 404, nil},
		{"POST", "/jobs/new-job/queue", "", "client", 409, nil},
		{"GET", "/jobs/new-job/events?after=-1", "", "client", 400, nil},
		{"GET", "/jobs/new-job/events?after=x", "", "client", 400, nil},
		{"GET", "/jobs/new-job/events?since=yesterday", "", "client", 400, nil},
		{"GET", "/jobs/new-job/events?limit=5000", "", "client", 400, nil},
		{"GET", "/jobs/new-job/events/stream", "", "client", 400, []string{"Last-Event-ID", "-5"}},
		{"GET", "/jobs/new-job/events/stream?access_token=1.x", "", "none", 401, nil},
		{"POST", "/jobs/new-job/events", `{"phase": "conversion"}`, "worker", 400, nil},
		{"POST", "/jobs/new-job/events", `{"phase": "conversion"}`, "worker", 409,
			[]string{"X-Lease-Token", "stolen"}},
		{"POST", "/jobs/new-job/events", `{"phase": "warp", "progress_percent": 5}`, "worker", 400,
			[]string{"X-Lease-Token", "t"}},
		{"POST", "/jobs/new-job/events", `{"phase": "conversion", "progress_percent": 101}`,
			"worker", 400, []string{"X-Lease-Token", "t"}},
		{"POST", "/jobs/new-job/events", `{"phase": "conversion"}`, "client", 403,
			[]string{"X-Lease-Token", "t"}},
		{"POST", "/jobs/new-job/result", `{"status": "RUNNING"}`, "worker", 400,
			[]string{"X-Lease-Token", "t"}},
		{"POST", "/jobs/new-job/result", `{"status": "FAILED"}`, "worker", 400,
			[]string{"X-Lease-Token", "t"}},
		{"POST", "/jobs/new-job/result", `{"status": "FAILED", "error": {"code": "oops lower"}}`,
			"worker", 400, []string{"X-Lease-Token", "t"}},
		{"POST", "/jobs/new-job/result", `{"status": "COMPLETED"}`, "worker", 409,
			[]string{"X-Lease-Token", "stolen"}},
		{"POST", "/workers/register", `{"capabilities": ["qemu_img"]}`, "worker", 400, nil},
		{"POST", "/workers/register", `{"worker_id": "w/1"}`, "worker", 400, nil},
		{"POST", "/workers/register", `{"worker_id": "w2", "capabilities": ["x_ray"]}`, "worker",
			400, nil},
		{"POST", "/workers/register", `{"worker_id": "w2", "execution_mode": "root"}`, "worker",
			400, nil},
		{"POST", "/workers/register", `{"worker_id": "w2", "memory_gb": -4}`, "worker", 400, nil},
		{"POST", "/workers/register", `{"worker_id": "w2"}`, "client", 403, nil},
		{"POST", "/workers/ghost/heartbeat", "", "worker", 404, nil},
		{"POST", "/workers/worker-1/heartbeat", `{"leases": "all"}`, "worker", 400, nil},
		{"DELETE", "/workers/ghost", "", "worker", 404, nil},
		{"POST", "/queue/dequeue", `{"worker_id": "w3", "wait_seconds": 21}`, "worker", 400, nil},
		{"POST", "/queue/dequeue", `{"worker_id": "w3", "wait_seconds": -1}`, "worker", 400, nil},
		{"POST", "/queue/dequeue", `{"worker_id": "w3"}`, "client", 403, nil},
		{"GET", "/queue", "", "worker", 403, nil},
		{"GET", "/metrics", "", "none", 401, nil},
		{"PUT", "/jobs", "", "client", 405, nil},
		{"GET", "/nowhere", "", "client", 404, nil},
	}
}

func TestHostileRequestsAreRefusedAndWriteNothing(t *testing.T) {
	t.Parallel()
	auth := httpapi.BearerTokens{Client: "client-token", Worker: "worker-token",
		Streams: &httpapi.StreamSigner{Secret: []byte("0123456789abcdef"), TTL: time.Minute,
			Now: time.Now}}
	f := setupWith(t, func(*stacktest.Stack) httpapi.Options {
		return httpapi.Options{Auth: auth, StreamTokens: auth.Streams}
	})
	tok := map[string]string{"client": "Bearer client-token", "worker": "Bearer worker-token"}
	f.call("POST", "/workers/register", exampleWorker, "Authorization", tok["worker"]).
		expect(t, 201, nil)
	f.call("POST", "/jobs?queue=true", `{"job_id": "new-job", "operation": "inspect",
		"image": {"path": "/data/vm.vmdk"}}`, "Authorization", tok["client"]).expect(t, 201, nil)
	reqs := hostileRequests()
	if len(reqs) < 50 {
		t.Fatalf("only %d hostile requests; want at least 50", len(reqs))
	}
	before := f.snapshot()
	for _, h := range reqs {
		headers := append([]string{}, h.headers...)
		if v, ok := tok[h.auth]; ok {
			headers = append(headers, "Authorization", v)
		}
		r := f.call(h.method, h.path, h.body, headers...)
		name := fmt.Sprintf("%s %.60s %.60q", h.method, h.path, h.body)
		checkHostile(t, name, r, h.want)
		if after := f.snapshot(); after != before {
			t.Fatalf("%s wrote something:\nbefore %s\nafter  %s", name, before, after)
		}
	}
}

func checkHostile(t *testing.T, name string, r reply, want int) {
	t.Helper()
	var e struct {
		Error struct {
			Code    int    `json:"code"`
			Type    string `json:"type"`
			Message string `json:"message"`
			Path    string `json:"path"`
		} `json:"error"`
	}
	if r.status != want {
		t.Errorf("%s: status %d, want %d; body %.300s", name, r.status, want, r.body)
		return
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error.Code != want ||
		e.Error.Type == "" || e.Error.Message == "" || e.Error.Path == "" {
		t.Errorf("%s: not the error envelope: %.300s", name, r.body)
	}
	for _, leak := range []string{"goroutine", "panic", "dynamodb", "operation error", ".go:"} {
		if strings.Contains(strings.ToLower(string(r.body)), leak) {
			t.Errorf("%s: answer leaks internals (%q): %.300s", name, leak, r.body)
		}
	}
}

// snapshot summarises everything a request could have written.
func (f *fixture) snapshot() string {
	f.t.Helper()
	svc := f.st.Svc
	page, err := svc.List(f.ctx, domain.JobQuery{Limit: 1000})
	if err != nil {
		f.t.Fatal(err)
	}
	var jobs []string
	for _, j := range page.Jobs {
		jobs = append(jobs, fmt.Sprintf("%s:%s:v%d", j.JobID, j.State, j.Version))
	}
	ws, err := svc.Workers(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	var workers []string
	for _, w := range ws {
		workers = append(workers, w.WorkerID)
	}
	qs, err := svc.QueueStatus(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	return fmt.Sprintf("jobs %v workers %v messages %d/%d/%d", jobs, workers, qs.TotalJobs,
		qs.InFlight, qs.Delayed)
}
