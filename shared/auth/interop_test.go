package auth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	tcclient "github.com/taskcluster/taskcluster/v25/clients/client-go"

	"github.com/workerfleet/workerfleet/shared/httpapi"
)

// poolRoute is a worker-manager route whose parameter holds a '/', encoded %2F by
// the official client (url.QueryEscape), and decoded by API Gateway.
var poolRoute = "/worker-pool/" + url.QueryEscape("proj/pool")

// call makes one API call with the official client's own request code
// (tcclient.Client.Request: URL building, SignRequest, HTTP) and returns the caller
// the gateway answered, or the 401 message.
func call(t *testing.T, rootURL string, creds *tcclient.Credentials, method, route string, query url.Values, payload string) (Caller, string) {
	t.Helper()
	c := &tcclient.Client{Credentials: creds, RootURL: rootURL, ServiceName: "worker-manager", APIVersion: "v1", Authenticate: creds != nil}
	cs, err := c.Request([]byte(payload), method, route, query)
	if cs == nil || cs.HTTPResponse == nil {
		t.Fatalf("%s %s: no answer: %v", method, route, err)
	}
	if cs.HTTPResponse.StatusCode == http.StatusUnauthorized {
		var e struct{ Message string }
		if jerr := json.Unmarshal([]byte(cs.HTTPResponseBody), &e); jerr != nil {
			t.Fatalf("%s %s: 401 with body %q", method, route, cs.HTTPResponseBody)
		}
		return Caller{}, e.Message
	}
	if err != nil {
		t.Fatalf("%s %s: %v", method, route, err)
	}
	var got Caller
	if err := json.Unmarshal([]byte(cs.HTTPResponseBody), &got); err != nil {
		t.Fatalf("%s %s: body %q: %v", method, route, cs.HTTPResponseBody, err)
	}
	return got, ""
}

// get fetches a URL (a signed URL) through the gateway.
func get(t *testing.T, u string) (Caller, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusUnauthorized {
		var e struct{ Message string }
		json.Unmarshal(body, &e)
		return Caller{}, e.Message
	}
	var got Caller
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("GET %s: %d %q", u, resp.StatusCode, body)
	}
	return got, ""
}

// officialCredentials are every kind of credentials the official client makes, with
// the caller each must authenticate as.
func officialCredentials(t *testing.T) []struct {
	name       string
	creds      *tcclient.Credentials
	wantID     string
	wantScopes []string
} {
	t.Helper()
	user := perm("user", userToken)
	temp, err := user.CreateTemporaryCredentials(time.Hour, "queue:create-task:*", "worker-manager:manage-worker-pool:proj/pool")
	if err != nil {
		t.Fatal(err)
	}
	named, err := user.CreateNamedTemporaryCredentials("user/worker-1", time.Hour, "queue:claim-work:proj/pool")
	if err != nil {
		t.Fatal(err)
	}
	namedByRoot, err := perm("root", rootToken).CreateNamedTemporaryCredentials("worker/aws/proj/pool/i-123", 24*time.Hour, "assume:worker-pool:proj/pool", "secrets:get:x")
	if err != nil {
		t.Fatal(err)
	}
	restricted := &tcclient.Credentials{ClientID: "user", AccessToken: userToken, AuthorizedScopes: []string{"queue:get-artifact:*"}}
	restrictedTemp, err := restricted.CreateTemporaryCredentials(time.Hour, "queue:get-artifact:*", "queue:route:*")
	if err != nil {
		t.Fatal(err)
	}
	restrictedNamed, err := restricted.CreateNamedTemporaryCredentials("user/narrow", time.Hour, "queue:get-artifact:*", "queue:route:x")
	if err != nil {
		t.Fatal(err)
	}
	none := &tcclient.Credentials{ClientID: "user", AccessToken: userToken, AuthorizedScopes: []string{}}
	return []struct {
		name       string
		creds      *tcclient.Credentials
		wantID     string
		wantScopes []string
	}{
		{"permanent", user, "user", userScopes},
		{"root", perm("root", rootToken), "root", []string{"*"}},
		{"unnamed temporary", temp, "user", []string{"queue:create-task:*", "worker-manager:manage-worker-pool:proj/pool"}},
		{"named temporary", named, "user/worker-1", []string{"queue:claim-work:proj/pool"}},
		{"named temporary from root", namedByRoot, "worker/aws/proj/pool/i-123", []string{"assume:worker-pool:proj/pool", "secrets:get:x"}},
		{"authorizedScopes", restricted, "user", []string{"queue:get-artifact:*"}},
		{"temporary with authorizedScopes", restrictedTemp, "user", []string{"queue:get-artifact:*"}},
		{"named temporary with authorizedScopes", restrictedNamed, "user/narrow", []string{"queue:get-artifact:*"}},
		{"empty authorizedScopes", none, "user", []string{}},
		{"anonymous", nil, "", []string{AnonymousScope}},
	}
}

// TestOfficialClientRequests makes real API calls with the official client, through
// an HTTP server that decodes paths as API Gateway does, for every kind of
// credentials, on a route whose parameter holds an encoded '/', with a query and
// with and without a body.
func TestOfficialClientRequests(t *testing.T) {
	rootURL := gateway(t, testAuthenticator(), gatewayResources)
	for _, tt := range officialCredentials(t) {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []struct {
				method, payload string
				query           url.Values
			}{
				{"GET", "", nil},
				{"GET", "", url.Values{"continuationToken": {"a b/c"}, "limit": {"10"}}},
				{"PUT", `{"description":"a pool"}`, nil},
				{"DELETE", "", nil},
			} {
				got, msg := call(t, rootURL, tt.creds, c.method, poolRoute, c.query, c.payload)
				if msg != "" {
					t.Fatalf("%s %v: refused: %s", c.method, c.query, msg)
				}
				want := Caller{ClientID: tt.wantID, Scopes: tt.wantScopes, Authenticated: tt.creds != nil}
				if diff := cmp.Diff(want, got, cmpCaller); diff != "" {
					t.Errorf("%s %v: caller (-want +got):\n%s", c.method, c.query, diff)
				}
			}
		})
	}
}

// cmpCaller compares callers without their expiry, checked on its own.
var cmpCaller = cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Expires" }, cmp.Ignore())

// TestDecodedPathNeedsCandidates: API Gateway delivers /worker-pool/proj%2Fpool as
// /worker-pool/proj/pool. With that decoded path alone the client's MAC cannot
// match; with the re-encoded candidates it does, for the Go clients'
// url.QueryEscape and for encodeURIComponent (JavaScript, Python), which differ for
// a space.
func TestDecodedPathNeedsCandidates(t *testing.T) {
	decodedOnly := func(path, rawQuery string) []string { return gatewayResources(path, rawQuery)[:1] }
	user := perm("user", userToken)
	for _, tt := range []struct {
		name       string
		candidates func(string, string) []string
		wantErr    string
	}{
		{"decoded path only", decodedOnly, "signature (mac) does not match"},
		{"with the re-encoded candidates", gatewayResources, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rootURL := gateway(t, testAuthenticator(), tt.candidates)
			_, msg := call(t, rootURL, user, "GET", poolRoute, nil, "")
			if !strings.Contains(msg, tt.wantErr) || (tt.wantErr == "") != (msg == "") {
				t.Errorf("official client call: got message %q, want %q", msg, tt.wantErr)
			}
			u, err := (&tcclient.Client{Credentials: user, RootURL: rootURL, ServiceName: "worker-manager", APIVersion: "v1"}).SignedURL(poolRoute, nil, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			_, msg = get(t, u.String())
			if !strings.Contains(msg, tt.wantErr) || (tt.wantErr == "") != (msg == "") {
				t.Errorf("signed URL: got message %q, want %q", msg, tt.wantErr)
			}
		})
	}

	// The JavaScript and Python clients encode with encodeURIComponent: a space is
	// %20 there and + for url.QueryEscape; both candidates are offered.
	a := testAuthenticator()
	for _, enc := range []func(string) string{url.QueryEscape, httpapi.EncodeURIComponent} {
		signedPath := "/api/worker-manager/v1/worker-pool/" + enc("proj/a pool")
		r := hawkSigned(t, "user", userToken, "", "GET", "https://api.example.com"+signedPath, "", "", false, "")
		r.Resources = gatewayResources("/api/worker-manager/v1/worker-pool/proj/a pool", "")
		if _, err := a.Authenticate(ctx, r); err != nil {
			t.Errorf("signed as %s: %v", signedPath, err)
		}
		r.Resources = r.Resources[:1]
		if _, err := a.Authenticate(ctx, r); err == nil {
			t.Errorf("signed as %s: the decoded path alone was accepted", signedPath)
		}
	}
}

// TestOfficialClientSignedURLs fetches signed URLs (bewits) the official client
// makes, for every kind of credentials, with query parameters sorting before and
// after the bewit, through the gateway.
func TestOfficialClientSignedURLs(t *testing.T) {
	rootURL := gateway(t, testAuthenticator(), gatewayResources)
	for _, tt := range officialCredentials(t) {
		if tt.creds == nil {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			c := &tcclient.Client{Credentials: tt.creds, RootURL: rootURL, ServiceName: "worker-manager", APIVersion: "v1"}
			for _, q := range []url.Values{nil, {"a": {"1"}, "z": {"x/y z"}}, {"limit": {"5"}}} {
				u, err := c.SignedURL(poolRoute, q, 10*time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				got, msg := get(t, u.String())
				if msg != "" {
					t.Fatalf("signed URL with query %v refused: %s", q, msg)
				}
				want := Caller{ClientID: tt.wantID, Scopes: tt.wantScopes, Authenticated: true}
				if diff := cmp.Diff(want, got, cmpCaller); diff != "" {
					t.Errorf("query %v: caller (-want +got):\n%s", q, diff)
				}
			}
		})
	}
}

// TestSignedURLLifetime: a signed URL is valid until its expiry second, then never;
// it never serves another method.
func TestSignedURLLifetime(t *testing.T) {
	c := &tcclient.Client{Credentials: perm("user", userToken), RootURL: "https://tc.example.com", ServiceName: "worker-manager", APIVersion: "v1"}
	u, err := c.SignedURL(poolRoute, nil, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(u.Query().Get("bewit"))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(string(raw), `\`)
	expSec, ok := parseTimestamp(parts[1])
	if !ok {
		t.Fatalf("bewit expiry %q", parts[1])
	}
	expiry := time.Unix(expSec, 0)
	host, port := hostPort(u)
	r := Request{Method: "GET", Host: host, Port: port, Resources: gatewayResources(u.Path, u.RawQuery)}
	for _, tt := range []struct {
		name    string
		now     time.Time
		method  string
		wantErr string
	}{
		{"fresh", expiry.Add(-10 * time.Minute), "GET", ""},
		{"last millisecond", expiry.Add(-time.Millisecond), "GET", ""},
		{"at expiry", expiry, "GET", "expired"},
		{"after expiry", expiry.Add(time.Hour), "GET", "expired"},
		{"HEAD", expiry.Add(-time.Minute), "HEAD", "only valid for GET"},
		{"POST", expiry.Add(-time.Minute), "POST", "only valid for GET"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := testAuthenticator()
			a.Now = func() time.Time { return tt.now }
			r := r
			r.Method = tt.method
			got, err := a.Authenticate(ctx, r)
			checkResult(t, got, err, "user", tt.wantErr)
		})
	}
}

// TestIssuedCredentialsWithOfficialClient: credentials the Issuer makes are used by
// the official client, for calls and signed URLs, and carry exactly the issued
// scopes (narrowed further by authorizedScopes when the client sets them).
func TestIssuedCredentialsWithOfficialClient(t *testing.T) {
	rootURL := gateway(t, testAuthenticator(), gatewayResources)
	now := time.Now()
	scopes := []string{"assume:worker-pool:proj/pool", "queue:claim-work:proj/pool", "secrets:get:a <b> & c"}
	for _, iss := range []Issuer{
		{ClientID: "root", AccessToken: rootToken, Scopes: []string{"*"}},
		{ClientID: "user", AccessToken: userToken, Scopes: []string{"queue:*", "assume:*", "secrets:get:*", "auth:create-client:user/*"}},
	} {
		for _, name := range []string{"", iss.ClientID + "/worker/aws/proj/pool/us-east-1/i-0123456789abcdef0"} {
			wantScopes := scopes
			if iss.ClientID == "user" {
				wantScopes = []string{"queue:claim-work:proj/pool"} // what "user" itself holds of them
			}
			creds, err := iss.Temporary(name, wantScopes, now.Add(-time.Minute), now.Add(96*time.Hour))
			if err != nil {
				t.Fatalf("issuer %s, name %q: %v", iss.ClientID, name, err)
			}
			wantID := name
			if name == "" {
				wantID = iss.ClientID
			}
			tc := &tcclient.Credentials{ClientID: creds.ClientID, AccessToken: creds.AccessToken, Certificate: creds.Certificate}
			got, msg := call(t, rootURL, tc, "POST", poolRoute, nil, `{}`)
			if msg != "" {
				t.Fatalf("issuer %s, name %q: refused: %s", iss.ClientID, name, msg)
			}
			if diff := cmp.Diff(Caller{ClientID: wantID, Scopes: wantScopes, Authenticated: true}, got, cmpCaller); diff != "" {
				t.Errorf("issuer %s, name %q: caller (-want +got):\n%s", iss.ClientID, name, diff)
			}
			if want := now.Add(96 * time.Hour).Truncate(time.Millisecond); !got.Expires.Equal(want) {
				t.Errorf("issuer %s, name %q: expires %v, want %v", iss.ClientID, name, got.Expires, want)
			}
			u, err := (&tcclient.Client{Credentials: tc, RootURL: rootURL, ServiceName: "worker-manager", APIVersion: "v1"}).SignedURL(poolRoute, nil, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if got, msg := get(t, u.String()); msg != "" || got.ClientID != wantID {
				t.Errorf("issuer %s, name %q: signed URL: %+v, %q", iss.ClientID, name, got, msg)
			}
			tc.AuthorizedScopes = wantScopes[:1]
			got, msg = call(t, rootURL, tc, "GET", poolRoute, nil, "")
			if msg != "" || !cmp.Equal(got.Scopes, wantScopes[:1]) {
				t.Errorf("issuer %s, name %q, authorizedScopes %v: %+v, %q", iss.ClientID, name, wantScopes[:1], got, msg)
			}
		}
	}
}

// TestHostCase: the Go client signs the host as written in the root URL; clients
// of @hapi/hawk sign it lower-cased. Both are the same host.
func TestHostCase(t *testing.T) {
	a := testAuthenticator()
	r := signed(t, perm("user", userToken), "GET", "https://TC.Example.COM/api/worker-manager/v1/ping", "")
	if r.Host != "TC.Example.COM" {
		t.Fatalf("signed host %q", r.Host)
	}
	if _, err := a.Authenticate(ctx, r); err != nil {
		t.Errorf("host as written: %v", err)
	}
	lower := hawkSigned(t, "user", userToken, "", "GET", "https://tc.example.com/api/worker-manager/v1/ping", "", "", false, "")
	lower.Host = "TC.Example.COM" // the Host header as that client sent it
	if _, err := a.Authenticate(ctx, lower); err != nil {
		t.Errorf("host signed lower-cased: %v", err)
	}
	other := r
	other.Host = "tc.example.org"
	if _, err := a.Authenticate(ctx, other); err == nil {
		t.Error("another host was accepted")
	}
}

// checkResult checks an Authenticate result: success as wantID when wantErr is "",
// else an *Error whose message holds wantErr.
func checkResult(t *testing.T, got Caller, err error, wantID, wantErr string) {
	t.Helper()
	if wantErr == "" {
		if err != nil || got.ClientID != wantID || !got.Authenticated {
			t.Errorf("got %+v, %v; want client %q", got, err, wantID)
		}
		return
	}
	var ae *Error
	if !errors.As(err, &ae) {
		t.Fatalf("got %+v, %v; want an *Error mentioning %q", got, err, wantErr)
	}
	if !strings.Contains(ae.Message, wantErr) {
		t.Errorf("got error %q; want it to mention %q", ae.Message, wantErr)
	}
	if !cmp.Equal(got, Caller{}) {
		t.Errorf("got caller %+v with the error; want none", got)
	}
}
