package domain

import (
	"context"
	"time"
)

// Store keeps jobs, their progress events and workers. It is the one wide seam of the
// product, so its contract is written once, here:
//
//   - CreateJob writes a new job and its first events; ErrAlreadyExists if the id is taken.
//   - GetJob returns ErrNotFound for an unknown id.
//   - SaveJob writes job only if the stored version still equals job.Version, and puts events
//     in the same transaction; on success job.Version is increased. A lost race returns
//     ErrStale and writes nothing. Every state change goes through it, so every state change
//     is a conditional write.
//   - ListJobs reads newest first through an index (never a table scan); Cursor is opaque.
//   - ListEvents returns events with Seq > After (and Timestamp >= Since) in Seq order.
//   - When job.Ended is set, SaveJob counts the outcome in the same transaction, and
//     Counters reads the totals.
//   - Workers are put whole; ListWorkers reads an index.
//
// Errors other than the sentinels mean the backing service failed; they are wrapped by
// Unavailable so that the API answers 503.
type Store interface {
	CreateJob(ctx context.Context, job *Job, events ...Event) error
	GetJob(ctx context.Context, id string) (Job, error)
	SaveJob(ctx context.Context, job *Job, events ...Event) error
	ListJobs(ctx context.Context, q JobQuery) (JobPage, error)
	CountJobs(ctx context.Context, state State) (int, error)
	ListEvents(ctx context.Context, q EventQuery) ([]Event, error)
	Counters(ctx context.Context) (Counters, error)
	PutWorker(ctx context.Context, w Worker) error
	// UpdateWorker writes w only if the worker still exists (ErrNotFound otherwise), so a
	// heartbeat racing an unregister cannot bring the worker back.
	UpdateWorker(ctx context.Context, w Worker) error
	GetWorker(ctx context.Context, id string) (Worker, error)
	ListWorkers(ctx context.Context) ([]Worker, error)
	DeleteWorker(ctx context.Context, id string) error
	Ping(ctx context.Context) error
}

// JobQuery selects a page of jobs.
type JobQuery struct {
	State  State // empty: all states
	Limit  int
	Cursor string
}

// JobPage is one page of jobs, newest first; Next is empty on the last page.
type JobPage struct {
	Jobs []Job
	Next string
}

// EventQuery selects a job's events.
type EventQuery struct {
	JobID string
	After int64
	Since time.Time
	Limit int
}

// Queue wakes workers for jobs. Messages are small hints; the job record in the Store is the
// truth, so a lost, duplicated or late message never decides a job's fate by itself.
type Queue interface {
	Send(ctx context.Context, key QueueKey, d Dispatch, delay time.Duration) error
	Receive(ctx context.Context, key QueueKey, wait time.Duration, max int) ([]Delivery, error)
	// ReceiveDead reads messages that landed in a dead-letter queue.
	ReceiveDead(ctx context.Context, key QueueKey, max int) ([]Delivery, error)
	Delete(ctx context.Context, d Delivery) error
	// Extend keeps a message invisible for another d.
	Extend(ctx context.Context, d Delivery, by time.Duration) error
	Stats(ctx context.Context) (QueueStats, error)
	Ping(ctx context.Context) error
}

// Delivery is one received message.
type Delivery struct {
	Key          QueueKey
	Dispatch     Dispatch
	QueueURL     string
	Handle       string
	ReceiveCount int
}

// QueueStats are the approximate counts SQS reports, per queue.
type QueueStats struct {
	Visible    map[QueueKey]int
	InFlight   map[QueueKey]int
	Delayed    map[QueueKey]int
	DeadLetter map[QueueKey]int
}
