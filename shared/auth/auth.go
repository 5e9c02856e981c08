// Package auth owns who a caller is and what it may do: it authenticates API
// requests exactly as Taskcluster's auth service does, so that the official
// Taskcluster clients work unmodified, evaluates scope expressions, issues
// temporary credentials, and seals access tokens for storage.
//
// A request carries Hawk credentials in its Authorization header, or as a bewit in a
// signed URL (GET only). The MAC key is the client's access token or, for temporary
// credentials (ext.certificate), the temporary access token derived from the
// certificate's seed and its issuer's access token. ext.authorizedScopes, when
// present, must be satisfied by the caller's scopes and then replaces them. Callers
// without credentials hold assume:anonymous. Nonces are not checked, as in
// Taskcluster: a captured header can be replayed while its timestamp is within the
// allowed skew (15 minutes), so requests travel over TLS.
//
// Clients come from a ClientSource: the root client from configuration, further
// clients from the clients table (their access tokens sealed at rest with a
// Sealer), and, when a Taskcluster deployment is configured, that deployment's auth
// service (RemoteAuthenticator) for clients unknown here.
//
// No error or log line holds an access token, a MAC, a seed or a signature.
package auth

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
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

// ClientSource finds clients by id. It returns an error wrapping ErrUnknownClient
// when the client does not exist, and any other error when it cannot tell.
type ClientSource interface {
	LookupClient(ctx context.Context, clientID string) (Client, error)
}

// StaticClients is a fixed set of clients by id (the root client from
// configuration).
type StaticClients map[string]Client

// NewStaticClients returns the set of the given clients, keyed by their ids.
func NewStaticClients(clients ...Client) StaticClients {
	s := make(StaticClients, len(clients))
	for _, c := range clients {
		s[c.ClientID] = c
	}
	return s
}

// LookupClient finds a client of the set; its ClientID is the key it is found
// under, and its scopes are a copy.
func (s StaticClients) LookupClient(_ context.Context, id string) (Client, error) {
	c, ok := s[id]
	if !ok {
		return Client{}, fmt.Errorf("client %q: %w", id, ErrUnknownClient)
	}
	c.ClientID, c.Scopes = id, append([]string(nil), c.Scopes...)
	return c, nil
}

// Chain is a ClientSource that asks its sources in order, moving on only when a
// source does not know the client: any other error stops the search, so that an
// unreachable table never makes a local client look unknown.
type Chain []ClientSource

// LookupClient asks each source in turn.
func (c Chain) LookupClient(ctx context.Context, id string) (Client, error) {
	for _, s := range c {
		cl, err := s.LookupClient(ctx, id)
		if !errors.Is(err, ErrUnknownClient) {
			return cl, err
		}
	}
	return Client{}, fmt.Errorf("client %q: %w", id, ErrUnknownClient)
}

// Request is what authentication looks at.
type Request struct {
	// Method is the HTTP method; Host and Port are those the client addressed (the
	// Host header without its port, and the port from it, X-Forwarded-Port or the
	// scheme).
	Method, Host, Port string
	// Resources are the request URIs (path?query) the client may have signed:
	// API Gateway delivers paths decoded, so the HTTP layer reconstructs the
	// encodings clients use. All must decode to the same request; a bewit is read
	// from their query.
	Resources []string
	// Encoded is how many of Resources, from the first, are the encodings known
	// clients sign (0: all of them); only those are sent to a remote authenticator.
	Encoded int
	// Authorization is the Authorization header ("" without one).
	Authorization string
	// ContentType and Payload are checked against a payload hash, when the client
	// sends one.
	ContentType string
	Payload     []byte
}

// Caller is an authenticated (or anonymous) caller.
type Caller struct {
	ClientID      string
	Scopes        []string
	Authenticated bool
	Expires       time.Time // when the credentials expire; zero: never
}

// AnonymousScope is what callers without credentials hold.
const AnonymousScope = "assume:anonymous"

// Anonymous returns the caller of a request without credentials.
func Anonymous() Caller { return Caller{Scopes: []string{AnonymousScope}} }

// Error is an authentication failure, answered as a 401 AuthenticationFailed. Its
// message names what failed and never holds a key, MAC, seed or signature.
type Error struct{ Message string }

func (e *Error) Error() string { return "authentication failed: " + e.Message }

func fail(format string, args ...any) *Error { return &Error{Message: fmt.Sprintf(format, args...)} }

// RemoteAuthenticator checks Hawk credentials with another service (a Taskcluster
// deployment's auth service). authorization is "" for a bewit, which resource then
// carries. It returns an *Error when the service refuses the credentials, and any
// other error when it cannot be asked.
type RemoteAuthenticator interface {
	AuthenticateHawk(ctx context.Context, method, resource, host string, port int, authorization string) (Caller, error)
}

// DefaultSkew is the clock skew allowed by default, as Taskcluster allows.
const DefaultSkew = 15 * time.Minute

// maxResources bounds the candidate request URIs looked at, and maxRemoteResources
// those sent to a remote authenticator (one HTTP call each).
const (
	maxResources       = 8
	maxRemoteResources = 2
)

// Authenticator authenticates requests.
type Authenticator struct {
	Clients ClientSource
	// Remote, if set, authenticates requests whose client (or, for named temporary
	// credentials, whose issuer) Clients does not know. A client Clients knows is
	// never sent there, even when its check fails.
	Remote RemoteAuthenticator
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Replays, if set, refuses a second use of a state-changing request's Hawk
	// header (see the package doc).
	Replays ReplayGuard
	// Skew is the clock skew allowed (default and when not positive: DefaultSkew)
	// between a Hawk header's ts and now, either way. A certificate's start may lie
	// at most CertificateStartAllowance (or Skew, if smaller) ahead of now.
	Skew time.Duration
}

// ReplayGuard remembers the Hawk headers of the state-changing requests served.
type ReplayGuard interface {
	// UseNonce records (clientID, nonce, ts) as used until expires; a second use
	// before then is an error wrapping ErrReplayed; any other error means it could
	// not be recorded.
	UseNonce(ctx context.Context, clientID, nonce, ts string, expires time.Time) error
}

// ErrReplayed is what a ReplayGuard returns for a header already used.
var ErrReplayed = errors.New("replayed")

// changesState reports whether a method may change state: every method but the
// reads.
func changesState(method string) bool {
	return method != "GET" && method != "HEAD" && method != "OPTIONS"
}

// CertificateStartAllowance is how far ahead of now a temporary certificate may
// start, as Taskcluster allows: it absorbs the issuer's clock skew, no more.
const CertificateStartAllowance = 5 * time.Minute

// MaxClientIDLength bounds client ids (and certificate issuers): they are DynamoDB
// keys, which DynamoDB refuses beyond 2,048 bytes, and no real one comes close.
const MaxClientIDLength = 512

// ValidClientID reports whether s is a client id Taskcluster allows (1 or more of
// A-Z a-z 0-9 ! @ / : . + | _ -) of at most MaxClientIDLength bytes.
func ValidClientID(s string) bool {
	return len(s) <= MaxClientIDLength && clientIDPattern.MatchString(s)
}

// Authenticate establishes the caller of r:
//
//   - no Authorization header and no bewit: the anonymous caller, and no error;
//   - valid credentials: the authenticated caller, with the scopes the credentials
//     carry (the certificate's for temporary credentials, then ext.authorizedScopes
//     when present);
//   - credentials present but invalid in any way: an *Error naming what failed;
//   - a client that cannot be looked up (the store failed) or a remote
//     authenticator that cannot be reached: another error.
//
// The checks, in order: the header or bewit is well-formed (a request may not carry
// both); a header's ts is within Skew of now, or a bewit has not expired and the
// method is GET; ext is well-formed; the client (the certificate's issuer for named
// temporary credentials) exists, is enabled and has not expired, or else the
// request goes to Remote; the MAC matches one of the candidate request URIs with
// the host as sent or lower-cased; the payload hash matches the body when one was
// sent; then the certificate (its signature, its validity, the issuer's scopes and
// right to name it) and ext.authorizedScopes. Checking the MAC before the
// certificate means only a holder of the credentials learns why its certificate is
// refused.
//
// Temporary credentials are valid from start - CertificateStartAllowance (5
// minutes, as in Taskcluster) to expiry inclusive, with no grace after expiry;
// Taskcluster allows 5 minutes either side. The official
// clients start certificates at their own now, so the start allowance absorbs their
// clock skew like the header's ts does; expiry is the issuer's hard limit.
func (a *Authenticator) Authenticate(ctx context.Context, r Request) (Caller, error) {
	now, skew := a.clock()
	method := strings.ToUpper(r.Method) // as Taskcluster hands it to Hawk
	p, signed, err := presentedOf(r, method, now, skew)
	switch {
	case err != nil:
		return Caller{}, err
	case p == nil:
		return Anonymous(), nil
	}
	if len(signed) == 0 {
		return Caller{}, fail("the request has no URI to check the signature against")
	}
	if !ValidClientID(p.id) {
		return Caller{}, fail("the client id is not a valid client id (1 to %d of A-Z a-z 0-9 ! @ / : . + | _ -)", MaxClientIDLength)
	}
	x, err := parseExt(p.ext)
	if err != nil {
		return Caller{}, err
	}
	lookup := p.id
	if x.cert != nil && x.cert.issuer != "" {
		if x.cert.issuer == p.id {
			return Caller{}, fail("ext.certificate.issuer must differ from the client id of named temporary credentials")
		}
		lookup = x.cert.issuer
	}
	client, err := a.client(ctx, lookup, now)
	if errors.Is(err, ErrUnknownClient) {
		if a.Remote != nil {
			c, err := a.remote(ctx, r, p.hash)
			return a.once(ctx, p, method, skew, c, err)
		}
		return Caller{}, fail("unknown client %q", lookup)
	}
	if err != nil {
		return Caller{}, err
	}
	if err := p.verify(client, x, method, signed, r); err != nil {
		return Caller{}, err
	}
	caller, err := a.callerOf(p.id, client, x, now, skew)
	return a.once(ctx, p, method, skew, caller, err)
}

// clock is the authenticator's time and allowed clock skew.
func (a *Authenticator) clock() (time.Time, time.Duration) {
	now := time.Now()
	if a.Now != nil {
		now = a.Now()
	}
	skew := a.Skew
	if skew <= 0 {
		skew = DefaultSkew
	}
	return now, skew
}

// presented is what a request's Hawk header or bewit claims, before any check of
// its signature.
type presented struct {
	kind                                    string // "header" or "bewit"
	id, mac, hash, ext, ts, nonce, app, dlg string
	tsSec                                   int64
}

// presentedOf reads a request's Hawk header or bewit, with the checks that need no
// key (its timestamp, the bewit's expiry and method), and the URIs the client may
// have signed. It returns nil for a request that carries neither: an anonymous one.
func presentedOf(r Request, method string, now time.Time, skew time.Duration) (*presented, []string, error) {
	bewit, signed, hasBewit, err := bewitOf(r.Resources)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case r.Authorization != "" && hasBewit:
		return nil, nil, fail("a request may carry an Authorization header or a bewit, not both")
	case r.Authorization != "":
		h, err := parseHeader(r.Authorization)
		if err != nil {
			return nil, nil, err
		}
		if d := now.Sub(time.Unix(h.tsSec, 0)); d > skew || d < -skew {
			return nil, nil, fail("the request's timestamp (ts) is %s away from the server's clock; at most %s is allowed: check the client's clock",
				d.Abs().Round(time.Second), skew)
		}
		return &presented{kind: "header", id: h.id, mac: h.mac, hash: h.hash, ext: h.ext, ts: h.ts, nonce: h.nonce, tsSec: h.tsSec, app: h.app, dlg: h.dlg}, signed, nil
	case hasBewit:
		if method != "GET" {
			return nil, nil, fail("a bewit (signed URL) is only valid for GET requests")
		}
		b, err := parseBewit(bewit)
		if err != nil {
			return nil, nil, err
		}
		// @hapi/hawk: valid while now (in ms) is before exp.
		if now.UnixMilli() >= b.exp*1000 {
			return nil, nil, fail("the signed URL expired at %s", time.Unix(b.exp, 0).UTC().Format(time.RFC3339))
		}
		return &presented{kind: "bewit", id: b.id, mac: b.mac, ext: b.ext, ts: strconv.FormatInt(b.exp, 10)}, signed, nil
	}
	return nil, nil, nil
}

// verify checks the signature with the client's key (the temporary key of a
// certificate, when ext carries one) and the payload's hash.
func (p *presented) verify(client Client, x ext, method string, signed []string, r Request) error {
	key := client.AccessToken
	if x.cert != nil {
		key = TemporaryAccessToken(client.AccessToken, x.cert.seed)
	}
	if !macMatches(key, p.mac, p.kind, p.ts, p.nonce, method, signed, r.Host, r.Port, p.hash, p.ext, p.app, p.dlg) {
		return fail("the signature (mac) does not match: wrong access token, or the request was altered (method, URI, host, port, payload hash or ext)")
	}
	if p.hash != "" && payloadHash(r.ContentType, r.Payload) != p.hash {
		return fail("the payload hash does not match the request body")
	}
	return nil
}

// callerOf is who a verified request is and the scopes it holds: the client's,
// or its certificate's, narrowed by ext.authorizedScopes.
func (a *Authenticator) callerOf(id string, client Client, x ext, now time.Time, skew time.Duration) (Caller, error) {
	caller := Caller{ClientID: id, Scopes: append([]string{}, client.Scopes...), Authenticated: true, Expires: client.Expires}
	if x.cert != nil {
		if err := a.checkCertificate(x.cert, id, client, now, skew); err != nil {
			return Caller{}, err
		}
		caller.Scopes = append([]string{}, x.cert.scopes...)
		if exp := time.UnixMilli(x.cert.expiry); caller.Expires.IsZero() || exp.Before(caller.Expires) {
			caller.Expires = exp
		}
	}
	if x.restricted {
		for _, s := range x.authorizedScopes {
			if !Satisfies(caller.Scopes, s) {
				return Caller{}, fail("ext.authorizedScopes oversteps your scopes: %q is not satisfied by them", s)
			}
		}
		caller.Scopes = append([]string{}, x.authorizedScopes...)
	}
	return caller, nil
}

// once refuses a replay of a state-changing header that authenticated (c, err):
// its client id, nonce and ts are accepted once.
func (a *Authenticator) once(ctx context.Context, p *presented, method string, skew time.Duration, c Caller, err error) (Caller, error) {
	if err != nil || p.kind != "header" || a.Replays == nil || !changesState(method) {
		return c, err
	}
	expires := time.Unix(p.tsSec, 0).Add(skew) // then the ts check refuses the header anyway
	switch err := a.Replays.UseNonce(ctx, p.id, p.nonce, p.ts, expires); {
	case errors.Is(err, ErrReplayed):
		return Caller{}, fail("this request (client id, nonce and ts) was already served; a request that changes state is accepted once: sign each request anew")
	case err != nil:
		return Caller{}, fmt.Errorf("replay protection: %w", err)
	}
	return c, nil
}

// bewitOf finds the bewit in the candidate request URIs and returns the URIs as
// the client signed them (without it). Every candidate must carry the same bewit,
// or none: they are encodings of one request.
func bewitOf(resources []string) (bewit string, signed []string, found bool, err error) {
	if len(resources) > maxResources {
		resources = resources[:maxResources]
	}
	signed = make([]string, 0, len(resources))
	for i, res := range resources {
		b, s, ok, err := splitBewit(res)
		if err != nil {
			return "", nil, false, err
		}
		if i > 0 && (ok != found || b != bewit) {
			return "", nil, false, fail("the request's URIs disagree about its bewit")
		}
		bewit, found = b, ok
		signed = append(signed, s)
	}
	if found && bewit == "" {
		return "", nil, false, fail("the bewit is empty")
	}
	return bewit, signed, found, nil
}

// macMatches reports whether the MAC a client sent matches one computed with key
// for any of the candidate request URIs, with the host as given or lower-cased.
//
// Accepting any candidate grants nothing the client did not sign. The candidates
// are encodings of one and the same request, which the HTTP layer rebuilt because
// API Gateway hands over the path decoded: /worker-pool/a%2Fb arrives as
// /worker-pool/a/b and is routed by its decoded parameters. A client signed one
// encoding of it; whichever matches, the request served is the one signed. The
// same holds for the host: DNS names are case-insensitive, the Go client signs the
// host as written and @hapi/hawk's clients sign it lower-cased.
func macMatches(key, want, kind, ts, nonce, method string, resources []string, host, port, hash, ext, app, dlg string) bool {
	m := newMAC(key)
	hosts := []string{host}
	if lower := strings.ToLower(host); lower != host {
		hosts = append(hosts, lower)
	}
	ok := false
	for _, res := range resources {
		for _, h := range hosts {
			// No early return: the work does not depend on which candidate matches.
			if m.matches(m.normalized(kind, ts, nonce, method, res, h, port, hash, ext, app, dlg), want) {
				ok = true
			}
		}
	}
	return ok
}

// checkCertificate checks a temporary-credentials certificate once the MAC made with
// its temporary key matched: its signature by the issuer (for the temporary client
// id, when named), its validity at now, its lifetime, the issuer's right to name
// it, and that the issuer holds every scope it grants.
func (a *Authenticator) checkCertificate(c *certificate, clientID string, issuer Client, now time.Time, skew time.Duration) error {
	if !c.signedBy(issuer.AccessToken, clientID) {
		if c.issuer != "" {
			return fail("ext.certificate.signature is not valid, or the client id does not match the certificate")
		}
		return fail("ext.certificate.signature is not valid")
	}
	nowMs := now.UnixMilli()
	switch {
	case c.expiry <= c.start:
		return fail("ext.certificate expires before it starts")
	case c.expiry-c.start > MaxTemporaryLifetime.Milliseconds():
		return fail("ext.certificate cannot last longer than 31 days")
	case c.start > nowMs+min(skew, CertificateStartAllowance).Milliseconds():
		return fail("ext.certificate is not valid until %s", time.UnixMilli(c.start).UTC().Format(time.RFC3339))
	case nowMs > c.expiry:
		return fail("ext.certificate expired at %s", time.UnixMilli(c.expiry).UTC().Format(time.RFC3339))
	}
	if c.issuer != "" && !Satisfies(issuer.Scopes, "auth:create-client:"+clientID) {
		return fail("ext.certificate issuer %q lacks auth:create-client:%s, needed to name credentials", issuer.ClientID, clientID)
	}
	for _, s := range c.scopes {
		if !Satisfies(issuer.Scopes, s) {
			return fail("ext.certificate grants %q, which its issuer %q does not hold", s, issuer.ClientID)
		}
	}
	return nil
}

// client looks a client up and checks it may authenticate. An unknown client is
// ErrUnknownClient; a disabled or expired one an *Error.
func (a *Authenticator) client(ctx context.Context, id string, now time.Time) (Client, error) {
	if a.Clients == nil {
		return Client{}, ErrUnknownClient
	}
	c, err := a.Clients.LookupClient(ctx, id)
	if errors.Is(err, ErrUnknownClient) {
		return Client{}, ErrUnknownClient
	}
	if err != nil {
		return Client{}, fmt.Errorf("look up client %q: %w", id, err)
	}
	c.ClientID = id
	switch {
	case c.Disabled:
		return Client{}, fail("client %q is disabled", id)
	case !c.Expires.IsZero() && now.After(c.Expires):
		return Client{}, fail("client %q expired at %s", id, c.Expires.UTC().Format(time.RFC3339))
	case c.AccessToken == "":
		return Client{}, fail("client %q has no access token", id)
	}
	return c, nil
}

// remote has Remote check a request whose client is unknown here, with each
// candidate URI a client can have signed (as sent, bewit included) until one is
// accepted or one is refused for a reason no other URI would change: only a MAC
// mismatch moves on to the next encoding (an unknown client, a bad certificate or
// a stale ts is refused at the first call). A payload hash the client sent is
// checked here, as Taskcluster's services do with the hash the auth service
// returns: the remote check covers the MAC, which covers the hash.
func (a *Authenticator) remote(ctx context.Context, r Request, hash string) (Caller, error) {
	port, err := strconv.Atoi(r.Port)
	if err != nil || port < 0 || port > 65535 {
		return Caller{}, fail("the request's port is not a number from 0 to 65535")
	}
	resources := r.Resources
	if r.Encoded > 0 && r.Encoded < len(resources) {
		resources = resources[:r.Encoded]
	}
	if len(resources) > maxRemoteResources {
		resources = resources[:maxRemoteResources]
	}
	var refused error
	for _, res := range resources {
		c, err := a.Remote.AuthenticateHawk(ctx, r.Method, res, r.Host, port, r.Authorization)
		var ae *Error
		switch {
		case err == nil:
			if hash != "" && payloadHash(r.ContentType, r.Payload) != hash {
				return Caller{}, fail("the payload hash does not match the request body")
			}
			return c, nil
		case errors.As(err, &ae):
			if !macMismatch(ae.Message) {
				return Caller{}, err
			}
			if refused == nil {
				refused = err
			}
		default:
			return Caller{}, fmt.Errorf("remote authentication: %w", err)
		}
	}
	if refused == nil {
		return Caller{}, fail("the request has no URI to check the signature against")
	}
	return Caller{}, refused
}

// macMismatch reports whether a remote refusal is about the MAC (Taskcluster's
// "Unauthorized: Bad mac", as @hapi/hawk words it, or this package's own), the one
// refusal another encoding of the URI could change.
func macMismatch(message string) bool {
	m := strings.ToLower(message)
	return strings.Contains(m, "bad mac") || strings.Contains(m, "(mac) does not match")
}
