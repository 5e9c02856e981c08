// Package auth authenticates API requests as Taskcluster services do, and issues
// temporary credentials.
//
// A request carries Hawk credentials in its Authorization header, or as a bewit in a
// signed URL. The key is the client's access token, or, for temporary credentials
// (ext.certificate), the temporary access token derived from the certificate's seed
// and its issuer's access token; the certificate's signature, validity (5 minutes of
// clock skew either side, at most 31 days) and the issuer's own scopes are checked.
// ext.authorizedScopes, if present, must be satisfied by the caller's scopes and then
// replace them. Header timestamps may be 15 minutes off; a payload hash is checked
// when the client sends one. Callers without credentials hold assume:anonymous.
//
// Clients come from a ClientSource: the root client from configuration, further
// clients from the clients table (their access tokens sealed at rest), and, when a
// Taskcluster deployment is configured, that deployment's auth service for clients
// unknown here.
package auth

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Client is an API client.
type Client struct {
	ClientID    string
	AccessToken string
	Scopes      []string
	Expires     time.Time // zero: never
	Disabled    bool
}

// ErrUnknownClient means a client id is not known.
var ErrUnknownClient = errors.New("unknown client")

// ClientSource finds clients by id; ErrUnknownClient when absent.
type ClientSource interface {
	LookupClient(ctx context.Context, clientID string) (Client, error)
}

// StaticClients is a fixed set of clients (the root client from configuration).
type StaticClients map[string]Client

// LookupClient finds a client of the set.
func (s StaticClients) LookupClient(_ context.Context, id string) (Client, error) {
	if c, ok := s[id]; ok {
		return c, nil
	}
	return Client{}, ErrUnknownClient
}

// Chain tries sources in order, moving on only when a source does not know the client.
type Chain []ClientSource

// LookupClient asks each source in turn.
func (c Chain) LookupClient(ctx context.Context, id string) (Client, error) {
	for _, s := range c {
		cl, err := s.LookupClient(ctx, id)
		if !errors.Is(err, ErrUnknownClient) {
			return cl, err
		}
	}
	return Client{}, ErrUnknownClient
}

// Request is what authentication looks at.
type Request struct {
	Method, Host, Port string
	// Resources are the request URIs (path?query) the client may have signed; see
	// httpapi for why there can be several. A bewit is read from their query.
	Resources     []string
	Authorization string
	ContentType   string
	Payload       []byte
}

// Caller is an authenticated (or anonymous) caller.
type Caller struct {
	ClientID      string
	Scopes        []string
	Authenticated bool
	Expires       time.Time
}

// Anonymous is the caller of a request without credentials.
var Anonymous = Caller{Scopes: []string{"assume:anonymous"}}

// Error is an authentication failure (a 401). Its message never holds a key, MAC,
// seed or signature.
type Error struct{ Message string }

func (e *Error) Error() string { return "authentication failed: " + e.Message }

func fail(format string, args ...any) error { return &Error{Message: fmt.Sprintf(format, args...)} }

// RemoteAuthenticator checks Hawk credentials with another service (a Taskcluster
// deployment's auth service).
type RemoteAuthenticator interface {
	AuthenticateHawk(ctx context.Context, method, resource, host string, port int, authorization string) (Caller, error)
}

// Authenticator authenticates requests.
type Authenticator struct {
	Clients ClientSource
	// Remote, if set, authenticates clients unknown to Clients.
	Remote RemoteAuthenticator
	Now    func() time.Time
	// Skew is the allowed clock skew of Hawk header timestamps (default 15 minutes).
	Skew time.Duration
}

type ext struct {
	Certificate      json.RawMessage `json:"certificate"`
	AuthorizedScopes *[]string       `json:"authorizedScopes"`
}

// Authenticate establishes the caller: anonymous without credentials, authenticated
// with valid ones; an *Error for invalid ones.
func (a *Authenticator) Authenticate(ctx context.Context, r Request) (Caller, error) {
	now := time.Now()
	if a.Now != nil {
		now = a.Now()
	}
	skew := a.Skew
	if skew == 0 {
		skew = 15 * time.Minute
	}
	var bewit string
	resources := make([]string, len(r.Resources))
	for i, res := range r.Resources {
		var b string
		b, resources[i] = splitBewit(res)
		if b != "" {
			bewit = b
		}
	}

	var h hawkAuth
	var err error
	switch {
	case r.Authorization != "" && bewit != "":
		return Caller{}, fail("a request may carry an Authorization header or a bewit, not both")
	case r.Authorization != "":
		if h, err = parseHeader(r.Authorization); err != nil {
			return Caller{}, fail("%v", err)
		}
		if d := abs(now.Sub(time.Unix(h.ts, 0))); d > skew {
			return Caller{}, fail("request timestamp is %s off; check the client's clock (allowed: %s)", d.Round(time.Second), skew)
		}
	case bewit != "":
		if h, err = parseBewit(bewit); err != nil {
			return Caller{}, fail("%v", err)
		}
		if r.Method != "GET" && r.Method != "HEAD" {
			return Caller{}, fail("a bewit (signed URL) is only valid for GET requests")
		}
		if now.Unix() > h.ts {
			return Caller{}, fail("the signed URL expired at %s", time.Unix(h.ts, 0).UTC().Format(time.RFC3339))
		}
	default:
		return Anonymous, nil
	}

	var x ext
	if h.ext != "" {
		raw, err := base64.StdEncoding.DecodeString(h.ext)
		if err != nil {
			return Caller{}, fail("ext is not base64")
		}
		if err := json.Unmarshal(raw, &x); err != nil {
			return Caller{}, fail("ext is not a JSON object: %v", err)
		}
	}

	caller, key, err := a.credentials(ctx, h.id, x.Certificate, now)
	if errors.Is(err, ErrUnknownClient) {
		if a.Remote != nil && !h.bewit {
			return a.remote(ctx, r, resources)
		}
		return Caller{}, fail("unknown client %q", h.id)
	}
	if err != nil {
		return Caller{}, err
	}
	if !h.macMatches(key, r.Method, resources, r.Host, r.Port) {
		return Caller{}, fail("signature (mac) does not match: wrong access token, or the request was altered in transit (method, path, host, port, hash or ext)")
	}
	if h.hash != "" {
		if subtle.ConstantTimeCompare([]byte(h.hash), []byte(payloadHash(r.ContentType, r.Payload))) != 1 {
			return Caller{}, fail("payload hash does not match the request body")
		}
	}
	if x.AuthorizedScopes != nil {
		for _, s := range *x.AuthorizedScopes {
			if !ValidScope(s) {
				return Caller{}, fail("ext.authorizedScopes holds an invalid scope")
			}
			if !Satisfies(caller.Scopes, s) {
				return Caller{}, fail("ext.authorizedScopes oversteps your scopes: %q is not among them", s)
			}
		}
		caller.Scopes = append([]string{}, *x.AuthorizedScopes...)
	}
	return caller, nil
}

// credentials resolves the client of a request and the key it signs with.
func (a *Authenticator) credentials(ctx context.Context, id string, rawCert json.RawMessage, now time.Time) (Caller, string, error) {
	if len(rawCert) == 0 || string(rawCert) == "null" {
		c, err := a.client(ctx, id, now)
		if err != nil {
			return Caller{}, "", err
		}
		return Caller{ClientID: id, Scopes: c.Scopes, Authenticated: true, Expires: c.Expires}, c.AccessToken, nil
	}
	var cert Certificate
	if err := json.Unmarshal(rawCert, &cert); err != nil {
		return Caller{}, "", fail("ext.certificate is malformed: %v", err)
	}
	if cert.Version != 1 {
		return Caller{}, "", fail("ext.certificate version %d is not supported (want 1)", cert.Version)
	}
	if len(cert.Seed) != 44 {
		return Caller{}, "", fail("ext.certificate seed must be 44 characters")
	}
	start, expiry := time.UnixMilli(cert.Start), time.UnixMilli(cert.Expiry)
	switch {
	case start.After(now.Add(certificateSkew)):
		return Caller{}, "", fail("ext.certificate is not valid until %s", start.UTC().Format(time.RFC3339))
	case expiry.Before(now.Add(-certificateSkew)):
		return Caller{}, "", fail("ext.certificate expired at %s", expiry.UTC().Format(time.RFC3339))
	case expiry.Sub(start) > MaxTemporaryLifetime:
		return Caller{}, "", fail("ext.certificate lifetime is over 31 days")
	case !expiry.After(start):
		return Caller{}, "", fail("ext.certificate expires before it starts")
	}
	for _, s := range cert.Scopes {
		if !ValidScope(s) {
			return Caller{}, "", fail("ext.certificate holds an invalid scope")
		}
	}
	issuerID := id
	if cert.Issuer != "" {
		if cert.Issuer == id {
			return Caller{}, "", fail("ext.certificate issuer must differ from the temporary client id")
		}
		issuerID = cert.Issuer
	}
	issuer, err := a.client(ctx, issuerID, now)
	if err != nil {
		return Caller{}, "", err
	}
	if subtle.ConstantTimeCompare([]byte(cert.signature(issuer.AccessToken, id)), []byte(cert.Signature)) != 1 {
		return Caller{}, "", fail("ext.certificate has an invalid signature")
	}
	for _, s := range cert.Scopes {
		if !Satisfies(issuer.Scopes, s) {
			return Caller{}, "", fail("ext.certificate issuer %s does not hold scope %q", issuerID, s)
		}
	}
	if cert.Issuer != "" && !Satisfies(issuer.Scopes, "auth:create-client:"+id) {
		return Caller{}, "", fail("ext.certificate issuer %s may not name credentials %q", issuerID, id)
	}
	exp := expiry
	if !issuer.Expires.IsZero() && issuer.Expires.Before(exp) {
		exp = issuer.Expires
	}
	return Caller{ClientID: id, Scopes: append([]string{}, cert.Scopes...), Authenticated: true, Expires: exp},
		TemporaryAccessToken(issuer.AccessToken, cert.Seed), nil
}

// client looks a client up and checks it may authenticate.
func (a *Authenticator) client(ctx context.Context, id string, now time.Time) (Client, error) {
	c, err := a.Clients.LookupClient(ctx, id)
	if errors.Is(err, ErrUnknownClient) {
		return Client{}, err
	}
	if err != nil {
		return Client{}, fmt.Errorf("look up client %s: %w", id, err)
	}
	switch {
	case c.Disabled:
		return Client{}, fail("client %s is disabled", id)
	case !c.Expires.IsZero() && now.After(c.Expires):
		return Client{}, fail("client %s expired at %s", id, c.Expires.UTC().Format(time.RFC3339))
	case c.AccessToken == "":
		return Client{}, fail("client %s has no access token", id)
	}
	return c, nil
}

func (a *Authenticator) remote(ctx context.Context, r Request, resources []string) (Caller, error) {
	port, err := strconv.Atoi(r.Port)
	if err != nil {
		return Caller{}, fail("port %q is not a number", r.Port)
	}
	var last error
	for i, res := range resources {
		if i >= 3 {
			break
		}
		c, err := a.Remote.AuthenticateHawk(ctx, r.Method, res, r.Host, port, r.Authorization)
		if err == nil {
			return c, nil
		}
		last = err
		var ae *Error
		if !errors.As(err, &ae) {
			return Caller{}, err // the remote itself failed: not worth trying other encodings
		}
	}
	var ae *Error
	if errors.As(last, &ae) {
		return Caller{}, last
	}
	return Caller{}, fail("unknown client")
}
