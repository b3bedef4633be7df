// Command stream-events is the Lambda function behind GET /jobs/{id}/events/stream, with response streaming served by the
// shared HTTP handler so that Lambda, the local server and the tests run the same code.
package main

import "github.com/hyper2kvm/controlplane/shared/lambdafn"

func main() { lambdafn.ServeStream("stream-events") }
