// Command sweeper is the scheduled function that puts jobs with expired leases back in the
// queue and sends lost queue messages again.
package main

import "github.com/hyper2kvm/controlplane/shared/lambdafn"

func main() { lambdafn.ServeSweeper() }
