package domain_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

const docsExample = `{"job_id": "convert-vm-123", "operation": "convert",
  "image": {"path": "/data/vm.vmdk", "format": "vmdk"}, "parameters": {"output_format": "qcow2"}}`

func TestOriginalExampleIsAcceptedWithDefaults(t *testing.T) {
	t.Parallel()
	s, err := domain.ParseJobSpec([]byte(docsExample), "alice")
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if s.Version != "1.0" || s.Priority() != 5 || s.TimeoutSeconds() != 7200 || s.RetryCount() != 0 {
		t.Errorf("defaults: got version %q priority %d timeout %d retries %d", s.Version,
			s.Priority(), s.TimeoutSeconds(), s.RetryCount())
	}
	if s.Audit == nil || s.Audit.RequestedBy != "alice" {
		t.Errorf("requested_by: got %+v, want alice", s.Audit)
	}
}

func TestLegacyAuditInfoMapsOntoAudit(t *testing.T) {
	t.Parallel()
	body := strings.Replace(docsExample, `"operation"`,
		`"audit_info": {"ticket_id": "CHG-1", "tags": ["env=prod", "urgent"]}, "operation"`, 1)
	s, err := domain.ParseJobSpec([]byte(body), "")
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if s.AuditInfo != nil || s.Audit.Ticket != "CHG-1" || s.Audit.Tags["env"] != "prod" {
		t.Fatalf("audit: got %+v", s.Audit)
	}
	if v, ok := s.Audit.Tags["urgent"]; !ok || v != "" {
		t.Errorf("bare tag: got %q %v, want empty value", v, ok)
	}
}

func TestSpecErrorsNameTheField(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		`"image": {"path": "/x", "fromat": "vmdk"}`:                            "image.fromat",
		`"image": {"path": "relative.vmdk"}`:                                   "image.path",
		`"image": {"path": "/x", "format": "iso"}`:                             "image.format",
		`"image": {"path": "/x", "checksum": "md5:1"}`:                         "image.checksum",
		`"image": {"path": "/x"}, "execution_policy": {"priority": 11}`:        "execution_policy.priority",
		`"image": {"path": "/x"}, "execution_policy": {"timeout_seconds": 59}`: "execution_policy.timeout_seconds",
		`"image": {"path": "/x"}, "execution_policy": {"retry_count": 6}`:      "execution_policy.retry_count",
		`"image": {"path": "/x"}, "parameters": {"output_format": "vmdk"}`:     "parameters.output_format",
		`"image": {"path": "/x"}, "parameters": {"colour": "red"}`:             "parameters.colour",
		`"image": {"path": "/x"}, "extra": 1`:                                  "extra",
		`"image": {"path": 5}`:                                                 "image.path",
	}
	for frag, field := range cases {
		body := `{"job_id": "j1", "operation": "convert", ` + frag + `}`
		_, err := domain.ParseJobSpec([]byte(body), "")
		var de *domain.Error
		if !asError(err, &de) || de.Kind != domain.KindValidation {
			t.Errorf("%s: got %v, want validation error", frag, err)
			continue
		}
		if !hasField(de.Fields, field) {
			t.Errorf("%s: fields %+v do not name %s", frag, de.Fields, field)
		}
	}
}

func TestJobIDRules(t *testing.T) {
	t.Parallel()
	for id, ok := range map[string]bool{"a": true, "vm-1.disk_0": true, "-x": false, "": false,
		"a/b": false, "..": false, strings.Repeat("a", 128): true, strings.Repeat("a", 129): false,
		"a b": false, "é": false} {
		if got := domain.ValidID(id); got != ok {
			t.Errorf("ValidID(%q): got %v, want %v", id, got, ok)
		}
	}
}

func TestSameAsIgnoresAuditButNotPolicy(t *testing.T) {
	t.Parallel()
	a, _ := domain.ParseJobSpec([]byte(docsExample), "alice")
	b, _ := domain.ParseJobSpec([]byte(docsExample), "bob")
	if !a.SameAs(b) {
		t.Error("same spec from two callers: want SameAs")
	}
	c, _ := domain.ParseJobSpec([]byte(strings.Replace(docsExample, `"operation"`,
		`"execution_policy": {"priority": 2}, "operation"`, 1)), "alice")
	if a.SameAs(c) {
		t.Error("different priority: want not SameAs")
	}
}

func asError(err error, target **domain.Error) bool {
	e, ok := err.(*domain.Error)
	*target = e
	return ok
}

func hasField(fields []domain.FieldError, name string) bool {
	for _, f := range fields {
		if f.Field == name {
			return true
		}
	}
	return false
}

func FuzzParseJobSpec(f *testing.F) {
	f.Add([]byte(docsExample))
	f.Add([]byte(`{"job_id": "x", "audit_info": {"tags": {"a": 1}}}`))
	f.Add([]byte(`[1, 2]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := domain.ParseJobSpec(data, "fuzz")
		if err != nil {
			if domain.ErrorKind(err) != domain.KindValidation {
				t.Fatalf("non-validation error: %v", err)
			}
			return
		}
		if f := s.Validate(); len(f) > 0 {
			t.Fatalf("accepted spec fails validation: %+v", f)
		}
		if _, err := json.Marshal(s); err != nil {
			t.Fatalf("accepted spec does not encode: %v", err)
		}
	})
}

func FuzzParseRegistration(f *testing.F) {
	f.Add([]byte(`{"worker_id": "worker-1", "capabilities": ["nbd_access", "qemu_img"],
		"execution_mode": "PRIVILEGED_CONTAINER"}`))
	f.Add([]byte(`{"worker_id": "w", "capabilities": {"nbd": true}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := domain.ParseRegistration(data)
		if err != nil {
			if domain.ErrorKind(err) != domain.KindValidation {
				t.Fatalf("non-validation error: %v", err)
			}
			return
		}
		if !domain.ValidID(r.WorkerID) {
			t.Fatalf("accepted bad worker id %q", r.WorkerID)
		}
	})
}

func TestDeepNestingIsRefused(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40)
	body := strings.Replace(docsExample, `"parameters": {"output_format": "qcow2"}`,
		`"audit": {"tags": {"x": "y"}}, "parameters": {"output_format": "qcow2", "x": `+deep+`}`, 1)
	_, err := domain.ParseJobSpec([]byte(body), "")
	if domain.ErrorKind(err) != domain.KindValidation || !strings.Contains(err.Error(), "deeper") {
		t.Fatalf("got %v, want a validation error about nesting", err)
	}
	ok := `{"job_id": "j", "operation": "inspect", "image": {"path": "/x"},
		"parameters": {"note": "{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{"}}`
	if _, err := domain.ParseJobSpec([]byte(ok), ""); err != nil {
		t.Fatalf("braces inside a string: %v", err)
	}
}
