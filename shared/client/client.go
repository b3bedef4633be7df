// Package client is a Go client for the job API, shared by the command-line tool, the local
// launcher and the end-to-end tests, so all three speak to the API exactly as users do.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client calls one API base URL with one bearer token.
type Client struct {
	Base  string
	Token string
	HTTP  *http.Client
}

// New builds a client; base is e.g. http://127.0.0.1:8080.
func New(base, token string) *Client {
	return &Client{Base: strings.TrimRight(base, "/"), Token: token,
		HTTP: &http.Client{Timeout: 60 * time.Second}}
}

// APIError is the API's error envelope, returned for any 4xx or 5xx answer.
type APIError struct {
	Status  int
	Type    string            `json:"type"`
	Message string            `json:"message"`
	Path    string            `json:"path"`
	Fields  []json.RawMessage `json:"fields"`
}

func (e *APIError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("HTTP %d", e.Status)
	}
	return fmt.Sprintf("%s (HTTP %d %s)", e.Message, e.Status, e.Type)
}

// Do sends a request with a JSON body (nil for none) and decodes a JSON answer into out
// (nil to discard). It returns the status code.
func (c *Client) Do(ctx context.Context, method, path string, body, out any,
	headers ...string) (int, error) {
	req, err := c.request(ctx, method, path, body, headers...)
	if err != nil {
		return 0, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode >= 400 {
		return resp.StatusCode, decodeError(resp.StatusCode, data)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode answer: %w", err)
		}
	}
	return resp.StatusCode, nil
}

func (c *Client) request(ctx context.Context, method, path string, body any,
	headers ...string) (*http.Request, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return nil, fmt.Errorf("encode body: %w", err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return req, nil
}

func decodeError(status int, data []byte) error {
	var env struct {
		Error APIError `json:"error"`
	}
	e := &APIError{Status: status}
	if json.Unmarshal(data, &env) == nil && env.Error.Message != "" {
		env.Error.Status = status
		e = &env.Error
	}
	return e
}

// PathEscape escapes one path segment.
func PathEscape(s string) string { return url.PathEscape(s) }
