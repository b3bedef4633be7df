// Package domain holds the job protocol's vocabulary: job specs and their validation, the
// state machine, progress events, results, workers and the one error type. It imports nothing
// from AWS so that the rules can be read, tested and fuzzed without any service running; the
// adapters (DynamoDB, SQS, HTTP) depend on it, never the other way round.
package domain
