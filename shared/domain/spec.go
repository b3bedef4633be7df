package domain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Operation names what a job does to a disk image.
type Operation string

// The operations of the protocol. Only some are performed by today's worker; the rest fail
// with UNSUPPORTED_OPERATION rather than pretending to succeed.
const (
	OpInspect             Operation = "inspect"
	OpConvert             Operation = "convert"
	OpOfflineFix          Operation = "offline_fix"
	OpBootRepair          Operation = "boot_repair"
	OpSELinuxPrep         Operation = "selinux_prep"
	OpLVMRepair           Operation = "lvm_repair"
	OpFSRepair            Operation = "fs_repair"
	OpInitramfsRegenerate Operation = "initramfs_regenerate"
)

var operations = []Operation{OpInspect, OpConvert, OpOfflineFix, OpBootRepair, OpSELinuxPrep,
	OpLVMRepair, OpFSRepair, OpInitramfsRegenerate}

// ImageFormats lists the source formats a spec may name.
var ImageFormats = []string{"qcow2", "vmdk", "raw", "vdi", "vhd", "vhdx", "ova"}

// OutputFormats lists the target formats for convert: what KVM boots directly.
var OutputFormats = []string{"qcow2", "raw"}

// Policy defaults and bounds from the protocol.
const (
	DefaultPriority = 5
	DefaultTimeout  = 7200
	MinTimeout      = 60
	MaxTimeout      = 86400
	MaxRetryCount   = 5
	MaxIDLength     = 128
)

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
var checksumPattern = regexp.MustCompile(`^sha256:[0-9a-fA-F]{64}$`)

// ValidID reports whether s follows the protocol's id rules (job and worker ids). The rule is
// strict because ids end up in DynamoDB keys, file names and log lines on privileged hosts.
func ValidID(s string) bool { return idPattern.MatchString(s) }

// JobSpec is the body of POST /jobs after normalisation: defaults filled in, legacy spellings
// mapped, so that two specs meaning the same job compare equal.
type JobSpec struct {
	Version                string         `json:"version"`
	JobID                  string         `json:"job_id"`
	Operation              Operation      `json:"operation"`
	Image                  Image          `json:"image"`
	RequestedActions       []string       `json:"requested_actions,omitempty"`
	CapabilityRequirements Requirements   `json:"capability_requirements"`
	ExecutionPolicy        Policy         `json:"execution_policy"`
	Artifacts              *Artifacts     `json:"artifacts,omitempty"`
	Audit                  *Audit         `json:"audit,omitempty"`
	AuditInfo              *LegacyAudit   `json:"audit_info,omitempty"`
	Parameters             map[string]any `json:"parameters,omitempty"`
}

// Image points at the source disk on the worker host.
type Image struct {
	Path      string `json:"path"`
	Format    string `json:"format,omitempty"`
	Checksum  string `json:"checksum,omitempty"`
	SizeBytes *int64 `json:"size_bytes,omitempty"`
}

// Requirements are what a worker must have to run the job.
type Requirements struct {
	NeedsNBD          bool `json:"needs_nbd"`
	NeedsLVM          bool `json:"needs_lvm"`
	NeedsMount        bool `json:"needs_mount"`
	NeedsSELinuxTools bool `json:"needs_selinux_tools"`
	MinMemoryGB       *int `json:"min_memory_gb"`
	MinDiskSpaceGB    *int `json:"min_disk_space_gb"`
}

// Policy controls scheduling, time limits and retries.
type Policy struct {
	Priority       *int  `json:"priority,omitempty"`
	TimeoutSeconds *int  `json:"timeout_seconds,omitempty"`
	RetryCount     *int  `json:"retry_count,omitempty"`
	Idempotent     *bool `json:"idempotent,omitempty"`
}

// Artifacts says where outputs go; OutputPath defaults on the worker.
type Artifacts struct {
	OutputPath        string `json:"output_path,omitempty"`
	LogUpload         bool   `json:"log_upload,omitempty"`
	StoreFixedImage   bool   `json:"store_fixed_image,omitempty"`
	KeepIntermediates bool   `json:"keep_intermediates,omitempty"`
}

// Audit records who asked for the job and why.
type Audit struct {
	RequestedBy string            `json:"requested_by,omitempty"`
	Ticket      string            `json:"ticket,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
}

// LegacyAudit is the original docs' spelling, accepted and mapped onto Audit.
type LegacyAudit struct {
	TicketID string `json:"ticket_id,omitempty"`
	Tags     any    `json:"tags,omitempty"`
}

// Priority returns the effective priority (1 highest).
func (s JobSpec) Priority() int { return deref(s.ExecutionPolicy.Priority, DefaultPriority) }

// TimeoutSeconds returns the effective time limit of one attempt.
func (s JobSpec) TimeoutSeconds() int {
	return deref(s.ExecutionPolicy.TimeoutSeconds, DefaultTimeout)
}

// RetryCount returns how many times a failed attempt may be retried.
func (s JobSpec) RetryCount() int { return deref(s.ExecutionPolicy.RetryCount, 0) }

// OutputFormat returns the convert target format.
func (s JobSpec) OutputFormat() string {
	if f, ok := s.Parameters["output_format"].(string); ok && f != "" {
		return f
	}
	return "qcow2"
}

// Compress reports whether a compressed qcow2 was asked for.
func (s JobSpec) Compress() bool {
	b, _ := s.Parameters["compress"].(bool)
	return b
}

func deref(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

// ParseJobSpec decodes, normalises and validates a job spec. caller fills audit.requested_by
// when the spec names nobody.
func ParseJobSpec(data []byte, caller string) (JobSpec, error) {
	var s JobSpec
	if err := DecodeStrict(data, &s); err != nil {
		return JobSpec{}, err
	}
	if fields := s.normalize(caller); len(fields) > 0 {
		return JobSpec{}, Invalid(fields)
	}
	if fields := s.Validate(); len(fields) > 0 {
		return JobSpec{}, Invalid(fields)
	}
	return s, nil
}

// normalize fills defaults and maps legacy fields, so the stored spec is explicit.
func (s *JobSpec) normalize(caller string) []FieldError {
	if s.Version == "" {
		s.Version = "1.0"
	}
	p := &s.ExecutionPolicy
	p.Priority = orDefault(p.Priority, DefaultPriority)
	p.TimeoutSeconds = orDefault(p.TimeoutSeconds, DefaultTimeout)
	p.RetryCount = orDefault(p.RetryCount, 0)
	if p.Idempotent == nil {
		t := true
		p.Idempotent = &t
	}
	if s.Image.Format != "" {
		s.Image.Format = strings.ToLower(s.Image.Format)
	}
	if s.Operation == OpConvert {
		if s.Parameters == nil {
			s.Parameters = map[string]any{}
		}
		if _, ok := s.Parameters["output_format"]; !ok {
			s.Parameters["output_format"] = "qcow2"
		}
	}
	fields := s.mapLegacyAudit()
	if caller != "" && (s.Audit == nil || s.Audit.RequestedBy == "") {
		if s.Audit == nil {
			s.Audit = &Audit{}
		}
		s.Audit.RequestedBy = caller
	}
	return fields
}

func orDefault(p *int, def int) *int {
	if p != nil {
		return p
	}
	return &def
}

func (s *JobSpec) mapLegacyAudit() []FieldError {
	if s.AuditInfo == nil {
		return nil
	}
	legacy := s.AuditInfo
	s.AuditInfo = nil
	if s.Audit == nil {
		s.Audit = &Audit{}
	}
	if s.Audit.Ticket == "" {
		s.Audit.Ticket = legacy.TicketID
	}
	tags, err := legacyTags(legacy.Tags)
	if err != nil {
		return []FieldError{{Field: "audit_info.tags", Message: err.Error()}}
	}
	for k, v := range tags {
		if s.Audit.Tags == nil {
			s.Audit.Tags = map[string]string{}
		}
		if _, set := s.Audit.Tags[k]; !set {
			s.Audit.Tags[k] = v
		}
	}
	return nil
}

// legacyTags turns ["k=v", "k"] (or an object of strings) into a tag map.
func legacyTags(raw any) (map[string]string, error) {
	out := map[string]string{}
	switch t := raw.(type) {
	case nil:
	case []any:
		for _, item := range t {
			s, ok := item.(string)
			if !ok {
				return nil, fmt.Errorf("must be a list of strings")
			}
			k, v, _ := strings.Cut(s, "=")
			out[k] = v
		}
	case map[string]any:
		for k, item := range t {
			s, ok := item.(string)
			if !ok {
				return nil, fmt.Errorf("must map names to strings")
			}
			out[k] = s
		}
	default:
		return nil, fmt.Errorf("must be a list of strings or an object")
	}
	return out, nil
}

// Validate lists every rule the spec breaks.
func (s *JobSpec) Validate() []FieldError {
	var f []FieldError
	bad := func(field, msg string, args ...any) {
		f = append(f, FieldError{Field: field, Message: fmt.Sprintf(msg, args...)})
	}
	if s.Version != "1.0" {
		bad("version", "must be \"1.0\"")
	}
	if !ValidID(s.JobID) {
		bad("job_id", "must be 1-128 characters of A-Z a-z 0-9 . _ - starting with a letter or digit")
	}
	if !slices.Contains(operations, s.Operation) {
		bad("operation", "must be one of %s", joinOps())
	}
	s.validateImage(bad)
	s.validatePolicy(bad)
	s.validateRequirements(bad)
	s.validateParameters(bad)
	if s.Artifacts != nil && strings.ContainsRune(s.Artifacts.OutputPath, 0) {
		bad("artifacts.output_path", "must not contain NUL bytes")
	}
	return f
}

type badFunc func(field, msg string, args ...any)

func (s *JobSpec) validateImage(bad badFunc) {
	im := s.Image
	switch {
	case im.Path == "":
		bad("image.path", "is required")
	case strings.ContainsRune(im.Path, 0):
		bad("image.path", "must not contain NUL bytes")
	case strings.HasPrefix(im.Path, "s3://"):
		bad("image.path", "s3:// sources are not supported yet; give a path on the worker host")
	case !strings.HasPrefix(im.Path, "/"):
		bad("image.path", "must be an absolute path on the worker host")
	}
	if im.Format != "" && !slices.Contains(ImageFormats, im.Format) {
		bad("image.format", "must be one of %s", strings.Join(ImageFormats, ", "))
	}
	if im.Checksum != "" && !checksumPattern.MatchString(im.Checksum) {
		bad("image.checksum", "must look like sha256:<64 hex digits>")
	}
	if im.SizeBytes != nil && *im.SizeBytes < 0 {
		bad("image.size_bytes", "must be 0 or more")
	}
}

func (s *JobSpec) validatePolicy(bad badFunc) {
	if p := s.Priority(); p < 1 || p > 10 {
		bad("execution_policy.priority", "must be 1-10 (1 is highest)")
	}
	if t := s.TimeoutSeconds(); t < MinTimeout || t > MaxTimeout {
		bad("execution_policy.timeout_seconds", "must be %d-%d", MinTimeout, MaxTimeout)
	}
	if r := s.RetryCount(); r < 0 || r > MaxRetryCount {
		bad("execution_policy.retry_count", "must be 0-%d", MaxRetryCount)
	}
}

func (s *JobSpec) validateRequirements(bad badFunc) {
	r := s.CapabilityRequirements
	if r.MinMemoryGB != nil && *r.MinMemoryGB < 1 {
		bad("capability_requirements.min_memory_gb", "must be 1 or more, or null")
	}
	if r.MinDiskSpaceGB != nil && *r.MinDiskSpaceGB < 1 {
		bad("capability_requirements.min_disk_space_gb", "must be 1 or more, or null")
	}
}

func (s *JobSpec) validateParameters(bad badFunc) {
	if s.Operation != OpConvert {
		return
	}
	for k, v := range s.Parameters {
		switch k {
		case "output_format":
			if f, ok := v.(string); !ok || !slices.Contains(OutputFormats, f) {
				bad("parameters.output_format", "must be one of %s",
					strings.Join(OutputFormats, ", "))
			}
		case "compress":
			if _, ok := v.(bool); !ok {
				bad("parameters.compress", "must be a boolean")
			}
		default:
			bad("parameters."+k, "is not a parameter of convert "+
				"(known: output_format, compress)")
		}
	}
	if s.Compress() && s.OutputFormat() != "qcow2" {
		bad("parameters.compress", "is only possible with output_format qcow2")
	}
}

func joinOps() string {
	names := make([]string, len(operations))
	for i, o := range operations {
		names[i] = string(o)
	}
	return strings.Join(names, ", ")
}

// SameAs reports whether two normalised specs describe the same job, which makes a resubmit
// idempotent. Audit is left out: the same job resent by another caller is still the same job.
func (s JobSpec) SameAs(o JobSpec) bool {
	s.Audit, o.Audit = nil, nil
	a, errA := json.Marshal(s)
	b, errB := json.Marshal(o)
	return errA == nil && errB == nil && bytes.Equal(a, b)
}
