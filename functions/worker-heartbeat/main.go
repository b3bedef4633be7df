// Command worker-heartbeat is the Lambda function behind POST /workers/{id}/heartbeat,
// served by the shared HTTP handler that the local server and the tests run too.
package main

import "github.com/hyper2kvm/controlplane/shared/lambdafn"

func main() { lambdafn.ServeRoute("worker-heartbeat") }
