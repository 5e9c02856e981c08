package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	tcclient "github.com/taskcluster/taskcluster/v25/clients/client-go"
)

var ctx = context.Background()

const (
	rootToken = "root-access-token-0123456789abcdefghijklmnop"
	userToken = "user-access-token-0123456789abcdefghijklmnop"
)

func testAuthenticator() *Authenticator {
	return &Authenticator{Clients: StaticClients{
		"root":     {ClientID: "root", AccessToken: rootToken, Scopes: []string{"*"}},
		"user":     {ClientID: "user", AccessToken: userToken, Scopes: []string{"queue:*", "aws-provisioner:view-worker-type:*"}},
		"disabled": {ClientID: "disabled", AccessToken: userToken, Scopes: []string{"*"}, Disabled: true},
		"expired":  {ClientID: "expired", AccessToken: userToken, Scopes: []string{"*"}, Expires: time.Now().Add(-time.Hour)},
	}}
}

// signed builds a request as the official client sends it and the Request our HTTP
// layer hands the authenticator.
func signed(t *testing.T, creds *tcclient.Credentials, method, rawURL, body string) Request {
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
	host, port, _ := net.SplitHostPort(req.URL.Host)
	return Request{Method: method, Host: host, Port: port, Resources: []string{req.URL.RequestURI()},
		Authorization: req.Header.Get("Authorization"), ContentType: "application/json", Payload: []byte(body)}
}

const target = "http://127.0.0.1:8080/api/aws-provisioner/v1/worker-type/abc"

func TestOfficialClientCredentialsAreAccepted(t *testing.T) {
	a := testAuthenticator()
	perm := &tcclient.Credentials{ClientID: "user", AccessToken: userToken}
	temp, err := perm.CreateTemporaryCredentials(time.Hour, "queue:create-task:*")
	if err != nil {
		t.Fatal(err)
	}
	named, err := (&tcclient.Credentials{ClientID: "root", AccessToken: rootToken}).CreateNamedTemporaryCredentials("worker/abc", time.Hour, "queue:claim-work:x/y")
	if err != nil {
		t.Fatal(err)
	}
	restricted := &tcclient.Credentials{ClientID: "user", AccessToken: userToken, AuthorizedScopes: []string{"queue:get-artifact:*"}}
	restrictedTemp, err := restricted.CreateTemporaryCredentials(time.Hour, "queue:get-artifact:*", "queue:route:*")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		creds      *tcclient.Credentials
		wantID     string
		wantScopes []string
	}{
		{"permanent", perm, "user", []string{"queue:*", "aws-provisioner:view-worker-type:*"}},
		{"unnamed temporary", temp, "user", []string{"queue:create-task:*"}},
		{"named temporary", named, "worker/abc", []string{"queue:claim-work:x/y"}},
		{"authorizedScopes", restricted, "user", []string{"queue:get-artifact:*"}},
		{"temporary with authorizedScopes", restrictedTemp, "user", []string{"queue:get-artifact:*"}},
		{"anonymous", nil, "", []string{"assume:anonymous"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, method := range []string{"GET", "PUT"} {
				c, err := a.Authenticate(ctx, signed(t, tt.creds, method, target, `{"a":1}`))
				if err != nil {
					t.Fatalf("%s: %v", method, err)
				}
				if c.ClientID != tt.wantID || c.Authenticated != (tt.creds != nil) {
					t.Errorf("%s: caller %+v, want client %q", method, c, tt.wantID)
				}
				if diff := cmp.Diff(tt.wantScopes, c.Scopes); diff != "" {
					t.Errorf("%s: scopes (-want +got):\n%s", method, diff)
				}
			}
		})
	}
}

func TestSignedURLs(t *testing.T) {
	a := testAuthenticator()
	client := &tcclient.Client{Credentials: &tcclient.Credentials{ClientID: "user", AccessToken: userToken},
		RootURL: "http://127.0.0.1:8080", ServiceName: "aws-provisioner", APIVersion: "v1", Authenticate: true}
	u, err := client.SignedURL("/worker-type/abc", url.Values{"x": {"1"}}, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	req := Request{Method: "GET", Host: u.Hostname(), Port: u.Port(), Resources: []string{u.RequestURI()}}
	c, err := a.Authenticate(ctx, req)
	if err != nil || c.ClientID != "user" {
		t.Fatalf("signed URL: %+v, %v", c, err)
	}
	req.Method = "POST"
	if _, err := a.Authenticate(ctx, req); err == nil {
		t.Error("a bewit on a POST was accepted")
	}
	a.Now = func() time.Time { return time.Now().Add(11 * time.Minute) }
	req.Method = "GET"
	if _, err := a.Authenticate(ctx, req); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("an expired signed URL: %v", err)
	}
}

// TestEncodedPathCandidates: the client signs /worker-pool/a%2Fb; API Gateway delivers
// /worker-pool/a/b. Without the re-encoded candidate the MAC cannot match; with it, it
// does.
func TestEncodedPathCandidates(t *testing.T) {
	a := testAuthenticator()
	creds := &tcclient.Credentials{ClientID: "user", AccessToken: userToken}
	r := signed(t, creds, "GET", "http://127.0.0.1:8080/api/worker-manager/v1/worker-pool/proj%2Fpool", "")
	encoded := r.Resources[0]
	r.Resources = []string{"/api/worker-manager/v1/worker-pool/proj/pool"}
	if _, err := a.Authenticate(ctx, r); err == nil {
		t.Fatal("the decoded path alone matched a MAC over the encoded one")
	}
	r.Resources = append(r.Resources, encoded)
	if _, err := a.Authenticate(ctx, r); err != nil {
		t.Errorf("with the encoded candidate: %v", err)
	}
}

func TestIssuedCredentialsWorkWithTheOfficialClient(t *testing.T) {
	a := testAuthenticator()
	iss := Issuer{ClientID: "root", AccessToken: rootToken, Scopes: []string{"*"}}
	now := time.Now()
	for _, name := range []string{"", "worker/aws/proj/pool/us-east-1/i-123"} {
		creds, err := iss.Temporary(name, []string{"assume:worker-pool:proj/pool", "queue:claim-work:proj/pool"}, now.Add(-time.Minute), now.Add(96*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		tc := &tcclient.Credentials{ClientID: creds.ClientID, AccessToken: creds.AccessToken, Certificate: creds.Certificate}
		c, err := a.Authenticate(ctx, signed(t, tc, "GET", target, ""))
		if err != nil {
			t.Fatalf("name %q: %v", name, err)
		}
		wantID := name
		if name == "" {
			wantID = "root"
		}
		if c.ClientID != wantID || len(c.Scopes) != 2 || c.Scopes[0] != "assume:worker-pool:proj/pool" {
			t.Errorf("name %q: caller %+v", name, c)
		}
	}
	limited := Issuer{ClientID: "user", AccessToken: userToken, Scopes: []string{"queue:*"}}
	if _, err := limited.Temporary("", []string{"secrets:get:x"}, now, now.Add(time.Hour)); err == nil {
		t.Error("an issuer minted a scope it does not hold")
	}
	if _, err := limited.Temporary("named", []string{"queue:x"}, now, now.Add(time.Hour)); err == nil {
		t.Error("an issuer without auth:create-client:named named credentials")
	}
	if _, err := iss.Temporary("", nil, now, now.Add(32*24*time.Hour)); err == nil {
		t.Error("a 32-day lifetime was allowed")
	}
}

// tampered signs with the official client, then changes one thing.
func TestRejections(t *testing.T) {
	a := testAuthenticator()
	perm := &tcclient.Credentials{ClientID: "user", AccessToken: userToken}
	good := func(t *testing.T) Request { return signed(t, perm, "PUT", target, `{"a":1}`) }
	withCert := func(t *testing.T, mutate func(c *Certificate)) Request {
		temp, err := perm.CreateTemporaryCredentials(time.Hour, "queue:x")
		if err != nil {
			t.Fatal(err)
		}
		var c Certificate
		_ = json.Unmarshal([]byte(temp.Certificate), &c)
		mutate(&c)
		raw, _ := json.Marshal(c)
		temp.Certificate = string(raw)
		return signed(t, temp, "GET", target, "")
	}
	resign := func(c *Certificate, token string) { c.Signature = c.signature(token, "user") }
	header := func(r Request, attr, val string) Request {
		parts := strings.Split(strings.TrimPrefix(r.Authorization, "Hawk "), ", ")
		found := false
		for i, p := range parts {
			if strings.HasPrefix(p, attr+"=") {
				parts[i], found = attr+`="`+val+`"`, true
			}
		}
		if !found {
			parts = append(parts, attr+`="`+val+`"`)
		}
		r.Authorization = "Hawk " + strings.Join(parts, ", ")
		return r
	}
	extWith := func(v any) string { b, _ := json.Marshal(v); return base64.StdEncoding.EncodeToString(b) }

	tests := []struct {
		name string
		req  func(t *testing.T) Request
		want string
	}{
		{"wrong access token", func(t *testing.T) Request {
			return signed(t, &tcclient.Credentials{ClientID: "user", AccessToken: "wrong"}, "GET", target, "")
		}, "mac"},
		{"unknown client", func(t *testing.T) Request {
			return signed(t, &tcclient.Credentials{ClientID: "nobody", AccessToken: userToken}, "GET", target, "")
		}, "unknown client"},
		{"disabled client", func(t *testing.T) Request {
			return signed(t, &tcclient.Credentials{ClientID: "disabled", AccessToken: userToken}, "GET", target, "")
		}, "disabled"},
		{"expired client", func(t *testing.T) Request {
			return signed(t, &tcclient.Credentials{ClientID: "expired", AccessToken: userToken}, "GET", target, "")
		}, "expired"},
		{"tampered mac", func(t *testing.T) Request {
			return header(good(t), "mac", base64.StdEncoding.EncodeToString(make([]byte, 32)))
		}, "mac"},
		{"tampered method", func(t *testing.T) Request { r := good(t); r.Method = "DELETE"; return r }, "mac"},
		{"tampered resource", func(t *testing.T) Request { r := good(t); r.Resources = []string{r.Resources[0] + "x"}; return r }, "mac"},
		{"tampered host", func(t *testing.T) Request { r := good(t); r.Host = "evil.example.com"; return r }, "mac"},
		{"tampered port", func(t *testing.T) Request { r := good(t); r.Port = "8081"; return r }, "mac"},
		{"stale timestamp", func(t *testing.T) Request {
			return header(good(t), "ts", fmt.Sprint(time.Now().Add(-16*time.Minute).Unix()))
		}, "off"},
		{"tampered ext", func(t *testing.T) Request {
			return header(good(t), "ext", extWith(map[string]any{"authorizedScopes": []string{"queue:*"}}))
		}, "mac"},
		{"authorizedScopes widening", func(t *testing.T) Request {
			return signed(t, &tcclient.Credentials{ClientID: "user", AccessToken: userToken, AuthorizedScopes: []string{"secrets:*"}}, "GET", target, "")
		}, "oversteps"},
		{"certificate expired", func(t *testing.T) Request {
			return withCert(t, func(c *Certificate) {
				c.Start, c.Expiry = time.Now().Add(-3*time.Hour).UnixMilli(), time.Now().Add(-time.Hour).UnixMilli()
				resign(c, userToken)
			})
		}, "expired"},
		{"certificate not yet valid", func(t *testing.T) Request {
			return withCert(t, func(c *Certificate) {
				c.Start, c.Expiry = time.Now().Add(time.Hour).UnixMilli(), time.Now().Add(2*time.Hour).UnixMilli()
				resign(c, userToken)
			})
		}, "not valid until"},
		{"certificate over 31 days", func(t *testing.T) Request {
			return withCert(t, func(c *Certificate) {
				c.Expiry = time.Now().Add(32 * 24 * time.Hour).UnixMilli()
				resign(c, userToken)
			})
		}, "31 days"},
		{"certificate bad signature", func(t *testing.T) Request {
			return withCert(t, func(c *Certificate) { c.Scopes = []string{"queue:y"} })
		}, "invalid signature"},
		{"certificate wrong version", func(t *testing.T) Request {
			return withCert(t, func(c *Certificate) { c.Version = 2; resign(c, userToken) })
		}, "version"},
		{"certificate seed tampered", func(t *testing.T) Request {
			return withCert(t, func(c *Certificate) { c.Seed = strings.Repeat("A", 44) })
		}, "invalid signature"},
		{"certificate beyond the issuer's scopes", func(t *testing.T) Request {
			return withCert(t, func(c *Certificate) { c.Scopes = []string{"secrets:get:all"}; resign(c, userToken) })
		}, "does not hold"},
		{"named credentials without create-client", func(t *testing.T) Request {
			named, err := perm.CreateNamedTemporaryCredentials("someone", time.Hour, "queue:x")
			if err != nil {
				t.Fatal(err)
			}
			return signed(t, named, "GET", target, "")
		}, "may not name"},
		{"tampered bewit", func(t *testing.T) Request {
			c := &tcclient.Client{Credentials: perm, RootURL: "http://127.0.0.1:8080", ServiceName: "aws-provisioner", APIVersion: "v1"}
			u, _ := c.SignedURL("/worker-type/abc", nil, time.Minute)
			raw, _ := base64.RawURLEncoding.DecodeString(u.Query().Get("bewit"))
			parts := strings.Split(string(raw), `\`)
			parts[1] = fmt.Sprint(time.Now().Add(time.Hour).Unix()) // extend the expiry
			q := url.Values{"bewit": {base64.RawURLEncoding.EncodeToString([]byte(strings.Join(parts, `\`)))}}
			return Request{Method: "GET", Host: "127.0.0.1", Port: "8080", Resources: []string{u.Path + "?" + q.Encode()}}
		}, "mac"},
		{"both header and bewit", func(t *testing.T) Request {
			r := good(t)
			r.Resources = []string{r.Resources[0] + "?bewit=abc"}
			return r
		}, "not both"},
		{"payload hash mismatch", func(t *testing.T) Request {
			req, _ := http.NewRequest("PUT", target, strings.NewReader(`{"a":1}`))
			r := Request{Method: "PUT", Host: "127.0.0.1", Port: "8080", Resources: []string{req.URL.RequestURI()}, ContentType: "application/json", Payload: []byte(`{"a":2}`)}
			h := hawkAuth{id: "user", ts: time.Now().Unix(), nonce: "abcdefgh", hash: payloadHash("application/json", []byte(`{"a":1}`))}
			h.mac = macOf(userToken, h.normalized("PUT", r.Resources[0], r.Host, r.Port))
			r.Authorization = fmt.Sprintf(`Hawk id="user", ts="%d", nonce="abcdefgh", hash="%s", mac="%s"`, h.ts, h.hash, h.mac)
			return r
		}, "payload hash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := a.Authenticate(ctx, tt.req(t))
			var ae *Error
			if !errors.As(err, &ae) {
				t.Fatalf("got caller %+v, error %v; want an authentication error", c, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			for _, secret := range []string{userToken, rootToken} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error leaks a token: %q", err)
				}
			}
		})
	}
}

func TestPayloadHashAccepted(t *testing.T) {
	a := testAuthenticator()
	body := []byte(`{"a":1}`)
	r := Request{Method: "PUT", Host: "127.0.0.1", Port: "8080", Resources: []string{"/x"}, ContentType: "application/json; charset=utf-8", Payload: body}
	h := hawkAuth{id: "user", ts: time.Now().Unix(), nonce: "abcdefgh", hash: payloadHash("application/json", body)}
	h.mac = macOf(userToken, h.normalized("PUT", "/x", r.Host, r.Port))
	r.Authorization = fmt.Sprintf(`Hawk id="user", ts="%d", nonce="abcdefgh", hash="%s", mac="%s"`, h.ts, h.hash, h.mac)
	if _, err := a.Authenticate(ctx, r); err != nil {
		t.Errorf("a correct payload hash was refused: %v", err)
	}
}

func TestMalformedHeaders(t *testing.T) {
	a := testAuthenticator()
	for _, h := range []string{
		"Basic dXNlcjpwYXNz", "Hawk", "Hawk id", `Hawk id="x`, `Hawk id="x" mac="y"`, `Hawk id="x", id="y", ts="1", nonce="n", mac="m"`,
		`Hawk id="x", ts="abc", nonce="n", mac="m"`, `Hawk id="x", ts="1", nonce="n"`, `Hawk id="x", ts="1", nonce="n", mac="m", bogus="1"`,
		`Hawk id="a\b", ts="1", nonce="n", mac="m"`, "Hawk id=\"\x00\", ts=\"1\", nonce=\"n\", mac=\"m\"", strings.Repeat("x", maxHeader+1),
	} {
		_, err := a.Authenticate(ctx, Request{Method: "GET", Host: "h", Port: "1", Resources: []string{"/"}, Authorization: h})
		var ae *Error
		if !errors.As(err, &ae) {
			t.Errorf("header %q: %v, want an authentication error", h, err)
		}
	}
}

func TestScopes(t *testing.T) {
	tests := []struct {
		held     []string
		required string
		want     bool
	}{
		{[]string{"a:b"}, "a:b", true},
		{[]string{"a:*"}, "a:b:c", true},
		{[]string{"a:*"}, "a:", true},
		{[]string{"a:*"}, "a", false},
		{[]string{"*"}, "anything", true},
		{[]string{"a*b"}, "axb", false},
		{[]string{"a:b"}, "a:*", false},
		{[]string{"a:*"}, "a:*", true},
		{nil, "a", false},
	}
	for _, tt := range tests {
		if got := Satisfies(tt.held, tt.required); got != tt.want {
			t.Errorf("Satisfies(%v, %q) = %v, want %v", tt.held, tt.required, got, tt.want)
		}
	}
	expr := AllOf("worker-manager:manage-worker-pool:<workerPoolId>", AnyOf("worker-manager:provider:<providerId>", "admin"))
	bound := expr.Bind(map[string]string{"workerPoolId": "p/a", "providerId": "aws"})
	if got := bound.String(); got != `{"AllOf":["worker-manager:manage-worker-pool:p/a",{"AnyOf":["worker-manager:provider:aws","admin"]}]}` {
		t.Errorf("bound expression = %s", got)
	}
	for _, tt := range []struct {
		held []string
		want bool
	}{
		{[]string{"worker-manager:manage-worker-pool:p/*", "worker-manager:provider:aws"}, true},
		{[]string{"worker-manager:manage-worker-pool:p/a", "admin"}, true},
		{[]string{"worker-manager:manage-worker-pool:p/a"}, false},
		{[]string{"worker-manager:provider:aws"}, false},
	} {
		if got := bound.SatisfiedBy(tt.held); got != tt.want {
			t.Errorf("%s satisfied by %v = %v, want %v", bound, tt.held, got, tt.want)
		}
	}
	if !AllOf().SatisfiedBy(nil) || AnyOf().SatisfiedBy([]string{"*"}) {
		t.Error("empty AllOf must always, empty AnyOf never be satisfied")
	}
	if ValidScope("a\nb") || !ValidScope("a b~") {
		t.Error("ValidScope")
	}
}

func TestSealer(t *testing.T) {
	s, err := NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s.Seal("ci", userToken)
	if err != nil || strings.Contains(string(sealed), userToken) {
		t.Fatalf("Seal: %v (plaintext visible: %v)", err, strings.Contains(string(sealed), userToken))
	}
	if got, err := s.Open("ci", sealed); err != nil || got != userToken {
		t.Errorf("Open = %q, %v", got, err)
	}
	if _, err := s.Open("other", sealed); err == nil {
		t.Error("a token sealed for one client opened for another")
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := s.Open("ci", sealed); err == nil {
		t.Error("a tampered token opened")
	}
	other, _ := NewSealer([]byte("another secret of sixteen+ bytes"))
	good, _ := s.Seal("ci", userToken)
	if _, err := other.Open("ci", good); err == nil {
		t.Error("a token opened with another deployment's key")
	}
	if _, err := NewSealer([]byte("short")); err == nil {
		t.Error("a short secret was accepted")
	}
	tok, _ := NewAccessToken()
	if len(tok) != 44 || strings.ContainsAny(tok, "+/=") {
		t.Errorf("NewAccessToken = %q", tok)
	}
}

// TestRemoteAuthentication delegates unknown clients to a Taskcluster auth service.
func TestRemoteAuthentication(t *testing.T) {
	var got map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/auth/v1/authenticate-hawk" {
			http.NotFound(w, r)
			return
		}
		_ = json.NewDecoder(r.Body).Decode(&got)
		if strings.Contains(got["authorization"].(string), `id="tc-user"`) {
			fmt.Fprint(w, `{"status":"auth-success","clientId":"tc-user","scopes":["queue:*"],"expires":"2030-01-01T00:00:00.000Z","scheme":"hawk"}`)
			return
		}
		fmt.Fprint(w, `{"status":"auth-failed","message":"ext.certificate.expiry < now"}`)
	}))
	defer srv.Close()
	a := testAuthenticator()
	a.Remote = &TaskclusterAuth{RootURL: srv.URL}
	r := signed(t, &tcclient.Credentials{ClientID: "tc-user", AccessToken: "whatever"}, "GET", target, "")
	c, err := a.Authenticate(ctx, r)
	if err != nil || c.ClientID != "tc-user" || c.Scopes[0] != "queue:*" {
		t.Fatalf("remote success: %+v, %v", c, err)
	}
	if got["method"] != "get" || got["host"] != "127.0.0.1" || got["port"] != float64(8080) || got["resource"] != "/api/aws-provisioner/v1/worker-type/abc" {
		t.Errorf("sent %v", got)
	}
	r = signed(t, &tcclient.Credentials{ClientID: "someone", AccessToken: "x"}, "GET", target, "")
	var ae *Error
	if _, err := a.Authenticate(ctx, r); !errors.As(err, &ae) || !strings.Contains(err.Error(), "expiry") {
		t.Errorf("remote failure: %v", err)
	}
	// Local clients never go to the remote.
	if c, err := a.Authenticate(ctx, signed(t, &tcclient.Credentials{ClientID: "user", AccessToken: userToken}, "GET", target, "")); err != nil || c.ClientID != "user" {
		t.Errorf("local client: %+v, %v", c, err)
	}
}

func macOf(key, normalized string) string {
	return base64.StdEncoding.EncodeToString(hmacSHA256(key, normalized))
}

func FuzzParseHeader(f *testing.F) {
	f.Add(`Hawk id="user", ts="1700000000", nonce="abcdefgh", mac="bWFj", ext="e30="`)
	f.Add(`Hawk id="a", ts="1", nonce="n", mac="m", hash="h", app="x", dlg="y"`)
	f.Add(`hawk  id="a" ,ts="1",nonce="n",mac="m"`)
	f.Fuzz(func(t *testing.T, h string) {
		a := testAuthenticator()
		_, err := a.Authenticate(ctx, Request{Method: "GET", Host: "h", Port: "1", Resources: []string{"/?bewit=" + url.QueryEscape(h)}, Authorization: h})
		var ae *Error
		if err != nil && !errors.As(err, &ae) {
			t.Fatalf("non-authentication error %v", err)
		}
	})
}

func BenchmarkAuthenticate(b *testing.B) {
	a := testAuthenticator()
	perm := &tcclient.Credentials{ClientID: "user", AccessToken: userToken}
	temp, _ := perm.CreateTemporaryCredentials(time.Hour, "queue:x")
	for name, creds := range map[string]*tcclient.Credentials{"permanent": perm, "temporary": temp} {
		b.Run(name, func(b *testing.B) {
			req, _ := http.NewRequest("GET", target, nil)
			_ = creds.SignRequest(req)
			r := Request{Method: "GET", Host: "127.0.0.1", Port: "8080", Resources: []string{req.URL.RequestURI(), req.URL.RequestURI() + "x"}, Authorization: req.Header.Get("Authorization")}
			b.ReportAllocs()
			for range b.N {
				if _, err := a.Authenticate(ctx, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
