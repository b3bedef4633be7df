package domain

import (
	"fmt"
	"time"
)

// State is a job's lifecycle state; on the wire it is always upper case.
type State string

// The ten job states of the protocol.
const (
	StateCreated     State = "CREATED"
	StateValidated   State = "VALIDATED"
	StateQueued      State = "QUEUED"
	StateAssigned    State = "ASSIGNED"
	StateRunning     State = "RUNNING"
	StateProgressing State = "PROGRESSING"
	StateCompleted   State = "COMPLETED"
	StateFailed      State = "FAILED"
	StateCancelled   State = "CANCELLED"
	StateRetrying    State = "RETRYING"
)

// AllStates lists every state in lifecycle order, for validation and metrics.
var AllStates = []State{
	StateCreated, StateValidated, StateQueued, StateAssigned, StateRunning,
	StateProgressing, StateCompleted, StateFailed, StateCancelled, StateRetrying,
}

var transitions = map[State][]State{
	StateCreated:   {StateValidated, StateCancelled},
	StateValidated: {StateQueued, StateCancelled},
	// Ours beyond the protocol's table: QUEUED and ASSIGNED may end FAILED without running,
	// for a job whose message was dead-lettered or whose workers kept vanishing.
	StateQueued:   {StateAssigned, StateCancelled, StateFailed},
	StateAssigned: {StateRunning, StateQueued, StateCancelled, StateFailed},
	StateRunning: {StateProgressing, StateCompleted, StateFailed, StateRetrying,
		StateQueued, StateCancelled},
	StateProgressing: {StateProgressing, StateCompleted, StateFailed, StateRetrying,
		StateQueued, StateCancelled},
	StateRetrying: {StateQueued, StateFailed, StateCancelled},
}

// ParseState accepts a state name in any letter case, as query parameters often arrive.
func ParseState(s string) (State, bool) {
	for _, st := range AllStates {
		if string(st) == s || (len(s) == len(st) && equalFold(string(st), s)) {
			return st, true
		}
	}
	return "", false
}

func equalFold(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'a' <= y && y <= 'z' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Terminal reports whether no transition leaves s.
func (s State) Terminal() bool {
	return s == StateCompleted || s == StateFailed || s == StateCancelled
}

// Active reports whether a worker holds (or is about to hold) a lease on a job in s.
func (s State) Active() bool {
	return s == StateAssigned || s == StateRunning || s == StateProgressing
}

// CanTransition reports whether the state machine allows from → to.
func CanTransition(from, to State) bool {
	for _, t := range transitions[from] {
		if t == to {
			return true
		}
	}
	return false
}

// Transition is one entry of a job's state history.
type Transition struct {
	FromState State     `json:"from_state"`
	ToState   State     `json:"to_state"`
	Timestamp time.Time `json:"timestamp"`
	Reason    string    `json:"reason,omitempty"`
}

// MoveTo changes the job's state, recording the change in its history. A PROGRESSING →
// PROGRESSING write is allowed but is not a change, so nothing is recorded for it.
func (j *Job) MoveTo(to State, at time.Time, reason string) error {
	if !CanTransition(j.State, to) {
		return &Error{Kind: KindInvalidTransition,
			Message: fmt.Sprintf("job %s cannot go from %s to %s", j.JobID, j.State, to)}
	}
	if j.State != to {
		j.StateHistory = append(j.StateHistory, Transition{
			FromState: j.State, ToState: to, Timestamp: at.UTC(), Reason: reason,
		})
		j.State = to
	}
	j.UpdatedAt = at.UTC()
	return nil
}
