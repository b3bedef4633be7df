package domain

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"
)

// Phase names the step of a job that an event reports on.
type Phase string

// The phases of the protocol.
const (
	PhaseValidation   Phase = "validation"
	PhasePreflight    Phase = "preflight"
	PhaseConversion   Phase = "conversion"
	PhaseInspection   Phase = "inspection"
	PhaseOfflineFixes Phase = "offline_fixes"
	PhaseVerification Phase = "verification"
	PhaseCleanup      Phase = "cleanup"
	PhaseCompleted    Phase = "completed"
	PhaseFailed       Phase = "failed"
	PhaseCancelled    Phase = "cancelled"
)

var phases = []Phase{PhaseValidation, PhasePreflight, PhaseConversion, PhaseInspection,
	PhaseOfflineFixes, PhaseVerification, PhaseCleanup, PhaseCompleted, PhaseFailed,
	PhaseCancelled}

// Event is one progress record. Seq is assigned by the store and rises across attempts, so
// it serves as the SSE id and as the polling cursor.
type Event struct {
	JobID           string         `json:"job_id"`
	Seq             int64          `json:"seq"`
	Timestamp       time.Time      `json:"timestamp"`
	Phase           Phase          `json:"phase"`
	ProgressPercent float64        `json:"progress_percent"`
	Message         string         `json:"message"`
	Details         map[string]any `json:"details,omitempty"`
}

// MarshalJSON adds "percentage", the name the original browser example reads.
func (e Event) MarshalJSON() ([]byte, error) {
	type plain Event
	return json.Marshal(struct {
		plain
		Percentage float64 `json:"percentage"`
	}{plain(e), e.ProgressPercent})
}

// EventReport is the body a worker posts to report progress.
type EventReport struct {
	Phase           Phase          `json:"phase"`
	ProgressPercent *float64       `json:"progress_percent"`
	Message         string         `json:"message"`
	Details         map[string]any `json:"details"`
}

// ParseEventReport decodes and validates a progress report.
func ParseEventReport(data []byte) (EventReport, error) {
	var r EventReport
	if err := DecodeStrict(data, &r); err != nil {
		return EventReport{}, err
	}
	var f []FieldError
	if !slices.Contains(phases, r.Phase) {
		f = append(f, FieldError{Field: "phase", Message: fmt.Sprintf("must be one of %v", phases)})
	}
	if p := r.ProgressPercent; p != nil && (math.IsNaN(*p) || *p < 0 || *p > 100) {
		f = append(f, FieldError{Field: "progress_percent", Message: "must be 0-100"})
	}
	if len(r.Message) > 4096 {
		f = append(f, FieldError{Field: "message", Message: "must be at most 4096 bytes"})
	}
	if len(f) > 0 {
		return EventReport{}, Invalid(f)
	}
	return r, nil
}
