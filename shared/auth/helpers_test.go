package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	tcclient "github.com/taskcluster/taskcluster/v25/clients/client-go"
	hawk "github.com/tent/hawk-go"

	"github.com/workerfleet/workerfleet/shared/httpapi"
)

// The tests sign with the official Taskcluster Go client (tcclient), and, where a
// test needs a header the client never makes (a payload hash, a crafted ext), with
// the Hawk library that client uses (hawk-go): both are the code real callers run.

var ctx = context.Background()

const (
	rootToken = "root-access-token-0123456789abcdefghijklmnop"
	userToken = "user-access-token-0123456789abcdefghijklmnop"
	wrongKey  = "not-the-access-token-0123456789abcdefghijkl"
)

// userScopes are the scopes of client "user".
var userScopes = []string{"queue:*", "worker-manager:manage-worker-pool:proj/*", "auth:create-client:user/*"}

func testClients() StaticClients {
	return NewStaticClients(
		Client{ClientID: "root", AccessToken: rootToken, Scopes: []string{"*"}},
		Client{ClientID: "user", AccessToken: userToken, Scopes: userScopes},
		Client{ClientID: "disabled", AccessToken: userToken, Scopes: []string{"*"}, Disabled: true},
		Client{ClientID: "expired", AccessToken: userToken, Scopes: []string{"*"}, Expires: time.Now().Add(-time.Hour)},
		Client{ClientID: "tokenless", Scopes: []string{"*"}},
	)
}

func testAuthenticator() *Authenticator { return &Authenticator{Clients: testClients()} }

func perm(id, token string) *tcclient.Credentials {
	return &tcclient.Credentials{ClientID: id, AccessToken: token}
}

// hostPort is the host and port a client addressed, as the HTTP layer derives them.
func hostPort(u *url.URL) (string, string) {
	if h, p, err := net.SplitHostPort(u.Host); err == nil {
		return h, p
	}
	if u.Scheme == "http" {
		return u.Host, "80"
	}
	return u.Host, "443"
}

// signed builds a request as the official client sends it (SignRequest on an
// http.Request) and returns the Request the HTTP layer hands the authenticator for
// it, with the request URI as the one candidate.
func signed(t testing.TB, creds *tcclient.Credentials, method, rawURL, body string) Request {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if creds != nil {
		if err := creds.SignRequest(req); err != nil {
			t.Fatal(err)
		}
	}
	host, port := hostPort(req.URL)
	r := Request{Method: method, Host: host, Port: port, Resources: []string{req.URL.RequestURI()},
		Authorization: req.Header.Get("Authorization"), Payload: []byte(body)}
	if body != "" {
		r.ContentType = "application/json"
	}
	return r
}

// hawkSigned signs a request with hawk-go directly (the library tcclient uses), for
// headers tcclient never makes: an arbitrary ext, a payload hash (bodyHash), app.
func hawkSigned(t testing.TB, id, key, ext, method, rawURL, contentType, body string, bodyHash bool, app string) Request {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	a := hawk.NewRequestAuth(req, &hawk.Credentials{ID: id, Key: key, Hash: sha256.New, App: app, Delegate: "dlg-" + app}, 0)
	a.Ext = ext
	if bodyHash {
		// hawk-go takes the media type as the client must normalise it (the header's
		// value before any parameters, trimmed, lower-cased, as @hapi/hawk's clients
		// do); the Request keeps the header as sent.
		mt, _, _ := strings.Cut(contentType, ";")
		h := a.PayloadHash(strings.ToLower(strings.TrimSpace(mt)))
		io.WriteString(h, body)
		a.SetHash(h)
	}
	host, port := hostPort(req.URL)
	return Request{Method: method, Host: host, Port: port, Resources: []string{req.URL.RequestURI()},
		Authorization: a.RequestHeader(), ContentType: contentType, Payload: []byte(body)}
}

// hawkSignedAt signs a GET with hawk-go as if the client's clock read at.
func hawkSignedAt(t testing.TB, at time.Time, id, key, ext, method, rawURL string) Request {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := hawk.NewRequestAuth(req, &hawk.Credentials{ID: id, Key: key, Hash: sha256.New}, time.Until(at))
	a.Ext = ext
	host, port := hostPort(req.URL)
	return Request{Method: method, Host: host, Port: port, Resources: []string{req.URL.RequestURI()}, Authorization: a.RequestHeader()}
}

// extOf is base64 of v's JSON, as tcclient writes ext.
func extOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// tempCreds makes temporary credentials from a certificate written by hand and
// signed by tcclient's own Certificate.Sign, with the temporary access token derived
// from seedKey (the issuer's token, normally).
func tempCreds(t testing.TB, clientID, issuerToken, seedKey string, cert tcclient.Certificate) *tcclient.Credentials {
	t.Helper()
	if err := cert.Sign(issuerToken, clientID); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(cert)
	if err != nil {
		t.Fatal(err)
	}
	return &tcclient.Credentials{ClientID: clientID, AccessToken: TemporaryAccessToken(seedKey, cert.Seed), Certificate: string(raw)}
}

func seed(c byte) string { return strings.Repeat(string(c), SeedLength) }

func ms(t time.Time) int64 { return t.UnixMilli() }

// routes are the API routes the gateway emulation knows: a prefix and one final
// path parameter, as the HTTP layer's route patterns have.
var routes = []string{
	"/api/worker-manager/v1/worker-pool/",
	"/api/aws-provisioner/v1/worker-type/",
}

// gatewayResources returns the candidates the HTTP layer builds for a request API
// Gateway delivers with this decoded path and raw query: the path as delivered, and
// the path rebuilt with its parameter encoded as the Go clients (url.QueryEscape)
// and the JavaScript and Python clients (encodeURIComponent) encode it.
func gatewayResources(decodedPath, rawQuery string) []string {
	q := ""
	if rawQuery != "" {
		q = "?" + rawQuery
	}
	out := []string{decodedPath + q}
	for _, prefix := range routes {
		param, ok := strings.CutPrefix(decodedPath, prefix)
		if !ok {
			continue
		}
		for _, esc := range []func(string) string{url.QueryEscape, httpapi.EncodeURIComponent} {
			r := prefix + esc(param) + q
			if !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	}
	return out
}

// gateway is an HTTP server that hands requests to an authenticator as the API
// does behind API Gateway: the path decoded (Go's server decodes it as API Gateway
// does), the candidates rebuilt, host and port from the Host header. It answers
// the caller as JSON, or 401 with the error.
func gateway(t testing.TB, a *Authenticator, candidates func(decodedPath, rawQuery string) []string) string {
	t.Helper()
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		host, port, err := net.SplitHostPort(r.Host)
		if err != nil {
			http.Error(w, "no port in Host", http.StatusBadRequest)
			return
		}
		c, err := a.Authenticate(r.Context(), Request{Method: r.Method, Host: host, Port: port,
			Resources: candidates(r.URL.Path, r.URL.RawQuery), Authorization: r.Header.Get("Authorization"),
			ContentType: r.Header.Get("Content-Type"), Payload: body})
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]string{"code": "AuthenticationFailed", "message": err.Error()})
			return
		}
		json.NewEncoder(w).Encode(c)
	}))
	return srv
}

// newServer serves h until the test ends and returns its URL.
func newServer(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
