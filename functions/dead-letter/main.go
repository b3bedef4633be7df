// Command dead-letter is the function that fails the jobs whose queue messages landed in a
// dead-letter queue.
package main

import "github.com/hyper2kvm/controlplane/shared/lambdafn"

func main() { lambdafn.ServeDeadLetters() }
