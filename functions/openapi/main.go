// Command openapi is the Lambda function behind GET /openapi.json, served by the
// shared HTTP handler so that Lambda, the local server and the tests run the same code.
package main

import "github.com/hyper2kvm/controlplane/shared/lambdafn"

func main() { lambdafn.ServeRoute("openapi") }
