// Package lambdaglue adapts ordinary http.Handlers to AWS Lambda behind an API Gateway REST
// API (v1 proxy events), so each endpoint is written once and served the same way by its
// Lambda function, the local server and the tests.
//
// Proxy serves buffered routes through aws-lambda-go-api-proxy. Stream serves a route whose
// integration uses response streaming: the handler's writes reach the client as they are
// flushed instead of after the handler returns. WithRequestID puts the invocation's request
// ids on a logger so every record of one invocation can be found together.
package lambdaglue
