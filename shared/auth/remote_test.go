package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	tcclient "github.com/taskcluster/taskcluster/v25/clients/client-go"
)

// authService plays a Taskcluster deployment's auth service: it knows clients of its
// own and checks requests sent to authenticateHawk with this package's Hawk code
// over them (a different deployment, different clients), answering as
// Taskcluster does. It records what it was sent.
type authService struct {
	mu     sync.Mutex
	calls  []map[string]any
	status int           // answer this HTTP status instead, when set
	delay  time.Duration // before answering
	auth   *Authenticator
	// contentType and payload are given to the checks: the real service takes no
	// body and leaves a payload hash to its caller, but the checks this one runs
	// verify any hash sent, so a test with a hash tells it the signed body.
	contentType, payload string
}

func (s *authService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != "POST" || r.URL.Path != "/api/auth/v1/authenticate-hawk" {
		http.NotFound(w, r)
		return
	}
	var in map[string]any
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, "bad JSON", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.calls = append(s.calls, in)
	status, delay, ct, payload := s.status, s.delay, s.contentType, s.payload
	s.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	if status != 0 {
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"code":"InternalServerError","message":"echo: %v"}`, in["authorization"])
		return
	}
	str := func(k string) string { v, _ := in[k].(string); return v }
	port, _ := in["port"].(float64)
	c, err := s.auth.Authenticate(r.Context(), Request{Method: strings.ToUpper(str("method")), Host: str("host"),
		Port: fmt.Sprint(int(port)), Resources: []string{str("resource")}, Authorization: str("authorization"),
		ContentType: ct, Payload: []byte(payload)})
	w.Header().Set("Content-Type", "application/json")
	var ae *Error
	switch {
	case errors.As(err, &ae):
		json.NewEncoder(w).Encode(map[string]any{"status": "auth-failed", "message": ae.Message})
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	default:
		out := map[string]any{"status": "auth-success", "scheme": "hawk", "clientId": c.ClientID, "scopes": c.Scopes,
			"expires": "2031-01-02T03:04:05.678Z"}
		if h := attr(Request{Authorization: str("authorization")}, "hash"); h != "" {
			out["hash"] = h
		}
		json.NewEncoder(w).Encode(out)
	}
}

func (s *authService) sent() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.calls...)
}

const tcToken = "taskcluster-deployment-token-0123456789abcd"

// remoteSetup returns an authenticator with the local test clients and a remote
// Taskcluster deployment knowing client "tc-user".
func remoteSetup(t *testing.T) (*Authenticator, *authService) {
	svc := &authService{auth: &Authenticator{Clients: NewStaticClients(
		Client{ClientID: "tc-user", AccessToken: tcToken, Scopes: []string{"queue:*", "auth:create-client:tc-user/*"}},
		// The same id as a local client, with another token: never asked.
		Client{ClientID: "user", AccessToken: tcToken, Scopes: []string{"*"}},
	)}}
	a := testAuthenticator()
	a.Remote = &TaskclusterAuth{RootURL: newServer(t, svc), Timeout: time.Second}
	return a, svc
}

// TestRemoteAuthentication delegates clients unknown here to a Taskcluster auth
// service through the official tcauth client, for headers (permanent, temporary and
// named temporary credentials whose issuer is remote) and bewits.
func TestRemoteAuthentication(t *testing.T) {
	a, svc := remoteSetup(t)
	tcUser := perm("tc-user", tcToken)
	temp, err := tcUser.CreateTemporaryCredentials(time.Hour, "queue:a")
	if err != nil {
		t.Fatal(err)
	}
	named, err := tcUser.CreateNamedTemporaryCredentials("tc-user/w1", time.Hour, "queue:b")
	if err != nil {
		t.Fatal(err)
	}
	wantExpires := time.Date(2031, 1, 2, 3, 4, 5, 678e6, time.UTC)
	for _, tt := range []struct {
		name       string
		req        func(t *testing.T) Request
		wantID     string
		wantScopes []string
		wantAuth   bool // an authorization header was sent
	}{
		{"permanent", func(t *testing.T) Request { return signed(t, tcUser, "PUT", target, `{"a":1}`) }, "tc-user", []string{"queue:*", "auth:create-client:tc-user/*"}, true},
		{"temporary", func(t *testing.T) Request { return signed(t, temp, "GET", target, "") }, "tc-user", []string{"queue:a"}, true},
		{"named temporary, issuer unknown here", func(t *testing.T) Request { return signed(t, named, "GET", target, "") }, "tc-user/w1", []string{"queue:b"}, true},
		{"signed URL", func(t *testing.T) Request { return bewitURL(t, tcUser, time.Minute) }, "tc-user", []string{"queue:*", "auth:create-client:tc-user/*"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := len(svc.sent())
			r := tt.req(t)
			got, err := a.Authenticate(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			want := Caller{ClientID: tt.wantID, Scopes: tt.wantScopes, Authenticated: true, Expires: wantExpires}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("caller (-want +got):\n%s", diff)
			}
			calls := svc.sent()[before:]
			if len(calls) != 1 {
				t.Fatalf("%d calls to the auth service, want 1", len(calls))
			}
			wantSent := map[string]any{"method": strings.ToLower(r.Method), "resource": r.Resources[0], "host": "tc.example.com", "port": float64(443)}
			if tt.wantAuth {
				wantSent["authorization"] = r.Authorization
			}
			if diff := cmp.Diff(wantSent, calls[0]); diff != "" {
				t.Errorf("sent to authenticateHawk (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRemoteBoundaries: what goes to the remote and what does not, and how its
// answers and failures come back.
func TestRemoteBoundaries(t *testing.T) {
	tcUser := perm("tc-user", tcToken)
	t.Run("local clients never go remote", func(t *testing.T) {
		a, svc := remoteSetup(t)
		for _, creds := range []*tcclient.Credentials{perm("user", userToken), perm("user", tcToken), perm("disabled", userToken)} {
			a.Authenticate(ctx, signed(t, creds, "GET", target, ""))
		}
		if n := len(svc.sent()); n != 0 {
			t.Errorf("%d calls to the auth service for local clients, want 0", n)
		}
		if _, err := a.Authenticate(ctx, signed(t, perm("user", tcToken), "GET", target, "")); err == nil {
			t.Error("the remote's token for a local client id was accepted")
		}
	})
	t.Run("malformed and stale requests are refused here", func(t *testing.T) {
		a, svc := remoteSetup(t)
		r := signed(t, tcUser, "GET", target, "")
		for _, bad := range []Request{setAttr(r, "ts", "1"), setAttr(r, "ext", "!!!"), {Method: "GET", Resources: []string{"/"}, Authorization: "Hawk junk"}} {
			if _, err := a.Authenticate(ctx, bad); err == nil {
				t.Errorf("%q was accepted", bad.Authorization)
			}
		}
		if n := len(svc.sent()); n != 0 {
			t.Errorf("%d calls to the auth service, want 0", n)
		}
	})
	t.Run("refusal", func(t *testing.T) {
		a, _ := remoteSetup(t)
		got, err := a.Authenticate(ctx, signed(t, perm("tc-user", wrongKey), "GET", target, ""))
		checkResult(t, got, err, "", "signature (mac) does not match")
		if !strings.Contains(err.Error(), "checked by http://127.0.0.1:") {
			t.Errorf("error %q does not say who refused", err)
		}
	})
	// Only the encodings a client can have signed go to the service, each only
	// while the refusals are MAC mismatches (issue 22): the decoded path, which no
	// client signs, never; an unknown client costs one call.
	resources := []string{"/api/worker-manager/v1/worker-type/a%28b%29+c", "/api/worker-manager/v1/worker-type/a(b)%20c", "/api/worker-manager/v1/worker-type/a(b) c"}
	for _, tt := range []struct {
		name   string
		creds  *tcclient.Credentials
		signed string // the resource the client signed
		want   []string
		ok     bool
	}{
		{"the first encoding", tcUser, resources[0], resources[:1], true},
		{"the second encoding, after a MAC mismatch", tcUser, resources[1], resources[:2], true},
		{"the decoded path: never sent", tcUser, resources[2], resources[:2], false},
		{"an unknown client: one call", perm("nobody", tcToken), resources[0], resources[:1], false},
		{"a wrong token: each encoding", perm("tc-user", wrongKey), resources[0], resources[:2], false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, svc := remoteSetup(t)
			r := signed(t, tt.creds, "GET", "https://tc.example.com"+tt.signed, "")
			r.Resources, r.Encoded = resources, 2
			got, err := a.Authenticate(ctx, r)
			if ok := err == nil && got.ClientID == "tc-user"; ok != tt.ok {
				t.Errorf("got %+v, %v; want success %v", got, err, tt.ok)
			}
			var sent []string
			for _, c := range svc.sent() {
				sent = append(sent, c["resource"].(string))
			}
			if diff := cmp.Diff(tt.want, sent); diff != "" {
				t.Errorf("resources sent (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("payload hash checked here", func(t *testing.T) {
		a, svc := remoteSetup(t)
		svc.contentType, svc.payload = "application/json", `{"a":1}`
		r := hawkSigned(t, "tc-user", tcToken, "", "PUT", target, "application/json", `{"a":1}`, true, "")
		if _, err := a.Authenticate(ctx, r); err != nil {
			t.Fatalf("a matching hash: %v", err)
		}
		r.Payload = []byte(`{"a":2}`)
		got, err := a.Authenticate(ctx, r)
		checkResult(t, got, err, "", "payload hash does not match")
	})
	t.Run("service failure", func(t *testing.T) {
		a, svc := remoteSetup(t)
		svc.status = http.StatusBadRequest
		r := signed(t, tcUser, "GET", target, "")
		_, err := a.Authenticate(ctx, r)
		var ae *Error
		if err == nil || errors.As(err, &ae) {
			t.Fatalf("got %v; want an error that is no *Error", err)
		}
		if !strings.Contains(err.Error(), "answered HTTP 400") {
			t.Errorf("error %q does not give the status", err)
		}
		if mac := attr(r, "mac"); strings.Contains(err.Error(), mac) || strings.Contains(err.Error(), "Hawk id=") {
			t.Errorf("error %q repeats the authorization header", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		a, svc := remoteSetup(t)
		svc.delay = 500 * time.Millisecond
		a.Remote.(*TaskclusterAuth).Timeout = 100 * time.Millisecond
		start := time.Now()
		_, err := a.Authenticate(ctx, signed(t, tcUser, "GET", target, ""))
		if took := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || took > 400*time.Millisecond {
			t.Errorf("got %v after %s; want a deadline error within the timeout", err, took)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		a := testAuthenticator()
		a.Remote = &TaskclusterAuth{RootURL: "http://127.0.0.1:1", Timeout: 200 * time.Millisecond}
		_, err := a.Authenticate(ctx, signed(t, tcUser, "GET", target, ""))
		var ae *Error
		if err == nil || errors.As(err, &ae) {
			t.Errorf("got %v; want an error that is no *Error", err)
		}
	})
}

// TestRemoteAnswers: answers the API does not define are errors, not callers.
func TestRemoteAnswers(t *testing.T) {
	for _, tt := range []struct{ name, body, want string }{
		{"success without clientId", `{"status":"auth-success","scopes":[],"expires":"2030-01-01T00:00:00.000Z","scheme":"hawk"}`, "without a clientId"},
		{"success with an invalid scope", `{"status":"auth-success","clientId":"x","scopes":["a\nb"],"expires":"2030-01-01T00:00:00.000Z","scheme":"hawk"}`, "invalid scope"},
		{"unknown status", `{"status":"maybe"}`, `unexpected status "maybe"`},
		{"not JSON", `nope`, "not the JSON the API defines"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			url := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, tt.body) }))
			got, err := (&TaskclusterAuth{RootURL: url}).AuthenticateHawk(ctx, "GET", "/", "h", 443, `Hawk id="x"`)
			var ae *Error
			if err == nil || errors.As(err, &ae) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %+v, %v; want an error mentioning %q that is no *Error", got, err, tt.want)
			}
		})
	}
	if _, err := (&TaskclusterAuth{}).AuthenticateHawk(ctx, "GET", "/", "h", 443, ""); err == nil {
		t.Error("no root URL: no error")
	}
}
