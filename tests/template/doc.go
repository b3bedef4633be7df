// Package template holds the tests that keep template.yaml, the route table
// (shared/httpapi.Routes) and the SAM events in events/ in step, and that run the two
// offline AWS tools on the template: cfn-lint and the SAM translator.
package template
