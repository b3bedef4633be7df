// Command stream-events is the Lambda function behind GET /jobs/{id}/events/stream. It
// answers with response streaming, from the shared HTTP handler that the local server and
// the tests run too.
package main

import "github.com/hyper2kvm/controlplane/shared/lambdafn"

func main() { lambdafn.ServeStream("stream-events") }
