package httpapi_test

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/hyper2kvm/controlplane/shared/httpapi"
)

// The Compatibility section of the protocol: the original docs' requests, verbatim.

func TestCompatSubmitAndQueue(t *testing.T) {
	t.Parallel()
	f := setup(t, httpapi.Options{})
	m := f.call("POST", "/jobs?queue=true", exampleJob).object(t, http.StatusCreated)
	for _, k := range []string{"job_id", "state", "message", "queue_position"} {
		if _, ok := m[k]; !ok {
			t.Errorf("answer lacks %q: %v", k, m)
		}
	}
	if m["job_id"] != "convert-vm-123" || m["state"] != "QUEUED" {
		t.Errorf("job_id, state: got %v, %v, want convert-vm-123, QUEUED", m["job_id"], m["state"])
	}
	if pos, ok := m["queue_position"].(float64); !ok || pos < 1 {
		t.Errorf("queue_position: got %v, want a number >= 1", m["queue_position"])
	}
	if msg, _ := m["message"].(string); msg == "" {
		t.Errorf("message: got %v, want text", m["message"])
	}
	j := f.job("convert-vm-123")
	if got := j.Spec["parameters"]; !reflect.DeepEqual(got,
		map[string]any{"output_format": "qcow2"}) {
		t.Errorf("spec.parameters: got %v, want output_format qcow2", got)
	}
}

func TestCompatRegisterWorker(t *testing.T) {
	t.Parallel()
	f := setup(t, httpapi.Options{})
	m := f.call("POST", "/workers/register", exampleWorker).object(t, http.StatusCreated)
	want := map[string]any{"nbd": true, "lvm": true, "mount": false, "selinux": false,
		"qemu_img": true}
	if !reflect.DeepEqual(m["capabilities"], want) {
		t.Errorf("capabilities: got %v, want %v", m["capabilities"], want)
	}
	if m["execution_mode"] != "privileged_container" {
		t.Errorf("execution_mode: got %v, want privileged_container", m["execution_mode"])
	}
	var list struct {
		Workers []map[string]any `json:"workers"`
		Count   int              `json:"count"`
	}
	f.call("GET", "/workers", "").expect(t, http.StatusOK, &list)
	if list.Count != 1 || len(list.Workers) != 1 {
		t.Fatalf("workers: got %d (%v), want 1", list.Count, list.Workers)
	}
	if got := list.Workers[0]["capabilities"]; !reflect.DeepEqual(got, want) {
		t.Errorf("stored capabilities: got %v, want %v", got, want)
	}
	if got := list.Workers[0]["status"]; got != "alive" {
		t.Errorf("status: got %v, want alive", got)
	}
}

func TestCompatUnknownJob(t *testing.T) {
	t.Parallel()
	f := setup(t, httpapi.Options{})
	e := f.call("GET", "/jobs/convert-vm-999", "").
		wantError(t, http.StatusNotFound, "not_found", "/jobs/convert-vm-999")
	if !strings.Contains(e.Message, "convert-vm-999") {
		t.Errorf("message: got %q, want it to name convert-vm-999", e.Message)
	}
}

func TestCompatHealth(t *testing.T) {
	t.Parallel()
	f := setup(t, httpapi.Options{})
	f.call("POST", "/workers/register", exampleWorker).expect(t, http.StatusCreated, nil)
	var h struct {
		Status     string `json:"status"`
		Version    string `json:"version"`
		Timestamp  string `json:"timestamp"`
		Workers    *int   `json:"workers"`
		ActiveJobs *int   `json:"active_jobs"`
	}
	f.call("GET", "/health", "").expect(t, http.StatusOK, &h)
	if h.Status != "healthy" || h.Version != "v1" {
		t.Errorf("status, version: got %q, %q, want healthy, v1", h.Status, h.Version)
	}
	wantUTC(t, "timestamp", h.Timestamp)
	if h.Workers == nil || *h.Workers != 1 {
		t.Errorf("workers: got %v, want 1", h.Workers)
	}
	if h.ActiveJobs == nil || *h.ActiveJobs != 0 {
		t.Errorf("active_jobs: got %v, want 0", h.ActiveJobs)
	}
}

func TestCompatAuditInfo(t *testing.T) {
	t.Parallel()
	f := setup(t, httpapi.Options{})
	body := `{"job_id": "audited", "operation": "convert", "image": {"path": "/data/vm.vmdk"},
		"audit_info": {"ticket_id": "OPS-42", "tags": ["env=prod", "urgent", "a=b=c"]}}`
	f.submit(body, false)
	spec := f.job("audited").Spec
	want := map[string]any{"ticket": "OPS-42",
		"tags": map[string]any{"env": "prod", "urgent": "", "a": "b=c"}}
	audit, _ := spec["audit"].(map[string]any)
	if audit["ticket"] != want["ticket"] || !reflect.DeepEqual(audit["tags"], want["tags"]) {
		t.Errorf("spec.audit: got %v, want %v", audit, want)
	}
	if _, ok := spec["audit_info"]; ok {
		t.Errorf("spec.audit_info: got %v, want it mapped onto audit", spec["audit_info"])
	}
}

// TestCompatUnknownFields: a typo anywhere is refused by its dotted name; the open maps
// take anything, and parameters are checked per operation.
func TestCompatUnknownFields(t *testing.T) {
	t.Parallel()
	f := setup(t, httpapi.Options{})
	bad := map[string]string{
		"prioriti":                  `"prioriti": 1`,
		"image.fromat":              `"image": {"path": "/d/a.vmdk", "fromat": "vmdk"}`,
		"execution_policy.priorty":  `"execution_policy": {"priorty": 2}`,
		"capability_requirements.x": `"capability_requirements": {"x": true}`,
		"audit_info.ticket":         `"audit_info": {"ticket": "T-1"}`,
		"artifacts.outpath":         `"artifacts": {"outpath": "/o"}`,
		"parameters.foo":            `"parameters": {"foo": 1}`,
	}
	for field, extra := range bad {
		body := specWith("typo", "convert", extra)
		e := f.call("POST", "/jobs", body).wantError(t, http.StatusBadRequest,
			"validation_failed", "/jobs")
		e.wantField(t, field)
	}
	open := map[string]string{
		"inspect": `"parameters": {"anything": {"deep": [1, 2]}}`,
		"convert": `"audit": {"tags": {"any-key": "v", "other": ""}}`,
	}
	for op, extra := range open {
		f.submit(specWith("open-"+op, op, extra), false)
	}
	reg := `{"worker_id": "w-open", "capabilities": {"qemu_img": true},
		"os_info": {"distro": {"name": "x", "extra": [1]}}}`
	f.call("POST", "/workers/register", reg).expect(t, http.StatusCreated, nil)
}

// specWith is a valid job spec with one more member (extra may replace image).
func specWith(id, op, extra string) string {
	image := `"image": {"path": "/data/vm.vmdk"}, `
	if strings.HasPrefix(extra, `"image"`) {
		image = ""
	}
	return `{"job_id": "` + id + `", "operation": "` + op + `", ` + image + extra + `}`
}
