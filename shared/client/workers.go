package client

import (
	"context"
	"net/http"

	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/shared/service"
)

// Register posts a worker registration exactly as given, so the API judges both spellings
// of capabilities the same way for every caller.
func (c *Client) Register(ctx context.Context, registration []byte) (domain.Worker, error) {
	var w domain.Worker
	_, err := c.Do(ctx, http.MethodPost, "/workers/register", registration, &w)
	return w, err
}

// Workers lists the registered workers, alive or not.
func (c *Client) Workers(ctx context.Context) ([]domain.Worker, error) {
	var ans struct {
		Workers []domain.Worker `json:"workers"`
	}
	_, err := c.Do(ctx, http.MethodGet, "/workers", nil, &ans)
	return ans.Workers, err
}

// QueueStatus reads the queue depths. The answer's type is the service's own, so the two
// cannot drift apart.
func (c *Client) QueueStatus(ctx context.Context) (service.QueueStatus, error) {
	var st service.QueueStatus
	_, err := c.Do(ctx, http.MethodGet, "/queue", nil, &st)
	return st, err
}

// Health reads GET /health. An unhealthy API answers 503, which arrives as an *APIError
// whose message names the unreachable dependency.
func (c *Client) Health(ctx context.Context) (service.Health, error) {
	var h service.Health
	_, err := c.Do(ctx, http.MethodGet, "/health", nil, &h)
	return h, err
}
