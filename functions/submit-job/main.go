// Command submit-job is the Lambda function behind POST /jobs, served by the
// shared HTTP handler so that Lambda, the local server and the tests run the same code.
package main

import "github.com/hyper2kvm/controlplane/shared/lambdafn"

func main() { lambdafn.ServeRoute("submit-job") }
