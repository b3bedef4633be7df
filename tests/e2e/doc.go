// Package e2e holds the end-to-end tests: the real API server and worker host binaries as
// child processes on 127.0.0.1, over DynamoDB Local and the SQS emulator, converting a real
// disk image with qemu-img while the test follows the job the way a user does, over HTTP.
package e2e
