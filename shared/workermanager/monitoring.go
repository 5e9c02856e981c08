package workermanager

import (
	"context"
	"net/http"

	"github.com/workerfleet/workerfleet/shared/httpapi"
	"github.com/workerfleet/workerfleet/shared/version"
)

// lbheartbeat answers that the function runs (a load balancer's check).
func (s *Service) lbheartbeat(context.Context, *httpapi.Request) (*httpapi.Response, error) {
	return httpapi.OK(map[string]any{}), nil
}

// version answers which release and build serve the API.
func (s *Service) version(context.Context, *httpapi.Request) (*httpapi.Response, error) {
	return httpapi.OK(version.Get()), nil
}

// heartbeat checks what the service depends on: that its tables answer. 503 when
// they do not.
func (s *Service) heartbeat(ctx context.Context, _ *httpapi.Request) (*httpapi.Response, error) {
	if err := s.Store.Check(ctx); err != nil {
		s.log().WarnContext(ctx, "heartbeat: the tables do not answer", "error", err.Error())
		return nil, httpapi.Errorf(http.StatusServiceUnavailable, "ServiceUnavailable", "the tables do not answer")
	}
	return httpapi.OK(map[string]any{}), nil
}
