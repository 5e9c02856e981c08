package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/workerfleet/workerfleet/shared/auth"
	"github.com/workerfleet/workerfleet/shared/httpapi"
	"github.com/workerfleet/workerfleet/shared/store"
)

func storeDB(s *store.Store) store.DB {
	if s == nil {
		return nil
	}
	return s.DB()
}

// storeClients finds API clients in the clients table, opening their sealed tokens.
type storeClients struct {
	s      *store.Store
	sealer *auth.Sealer
}

func (c storeClients) LookupClient(ctx context.Context, id string) (auth.Client, error) {
	cl, err := c.s.Client(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return auth.Client{}, auth.ErrUnknownClient
	}
	if err != nil {
		return auth.Client{}, err
	}
	token, err := c.sealer.Open(id, cl.SealedAccessToken)
	if err != nil {
		return auth.Client{}, fmt.Errorf("client %s: %w", id, err)
	}
	return auth.Client{ClientID: id, AccessToken: token, Scopes: cl.Scopes, Expires: cl.Expires, Disabled: cl.Disabled}, nil
}

// storeNonces is the replay guard over the nonces table.
type storeNonces struct{ s *store.Store }

func (n storeNonces) UseNonce(ctx context.Context, clientID, nonce, ts string, expires time.Time) error {
	err := n.s.UseNonce(ctx, clientID, nonce, ts, expires)
	if errors.Is(err, store.ErrReplayed) {
		return fmt.Errorf("%w: %w", auth.ErrReplayed, err)
	}
	return err
}

// HTTPAuth adapts the authenticator to the HTTP layer.
func (a *App) HTTPAuth() httpapi.Authenticator {
	return httpAuth{a: a.Auth, frontDoorSecret: a.Config.FrontDoorSecret}
}

type httpAuth struct {
	a               *auth.Authenticator
	frontDoorSecret string
}

func (h httpAuth) Authenticate(ctx context.Context, r httpapi.AuthRequest) (httpapi.Caller, error) {
	host, port := r.Addressed(h.frontDoorSecret)
	c, err := h.a.Authenticate(ctx, auth.Request{Method: r.Method, Host: host, Port: port, Resources: r.Resources, Encoded: r.Encoded,
		Authorization: r.Authorization, ContentType: r.ContentType, Payload: r.Payload})
	var ae *auth.Error
	if errors.As(err, &ae) {
		return httpapi.Caller{}, httpapi.AuthenticationFailed("%s", ae.Message)
	}
	if err != nil {
		return httpapi.Caller{}, err
	}
	return httpapi.Caller{ClientID: c.ClientID, Scopes: c.Scopes, Authenticated: c.Authenticated}, nil
}
