package localstack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// TestFrontDoor: the two APIs' paths are served locally; every other request reaches
// the upstream deployment as the client sent it (method, path as encoded, query,
// Host, Authorization and other headers, body), and its answer comes back as it is.
func TestFrontDoor(t *testing.T) {
	type seen struct {
		method, uri, host, auth, xff, body string
	}
	var got seen
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = seen{r.Method, r.RequestURI, r.Host, r.Header.Get("Authorization"), r.Header.Get("X-Forwarded-For"), string(b)}
		w.Header().Set("X-Upstream", "yes")
		w.WriteHeader(http.StatusTeapot)
		_, _ = io.WriteString(w, `{"from":"upstream"}`)
	}))
	defer upstream.Close()
	own := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "own "+r.URL.Path) })
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	fd, err := NewFrontDoor(own, upstream.URL+"/", quiet)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(fd)
	defer srv.Close()

	for _, path := range []string{"/api/worker-manager/v1/ping", "/api/aws-provisioner/v1/secret/abc"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "own "+path {
			t.Errorf("GET %s: %q, want it served locally", path, b)
		}
	}

	tests := []struct{ method, uri, body string }{
		{"POST", "/api/queue/v1/claim-work/proj-ci%2Flinux?x=1&y=%2F", `{"tasks":1}`},
		{"GET", "/api/auth/v1/scopes/current", ""},
		{"PUT", "/api/queue/v1/task/abc", `{"payload":{}}`},
		{"DELETE", "/api/secrets/v1/secret/worker-pool:proj%2Fa", ""},
		{"GET", "/api/worker-managerX/v1/ping", ""}, // not one of ours: a prefix must end at a /
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, srv.URL+tt.uri, strings.NewReader(tt.body))
		req.Header.Set("Authorization", `Hawk id="worker/aws/p/g/i", ts="1", nonce="n", mac="m"`)
		req.Header.Set("X-Forwarded-For", "10.1.2.3")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := seen{tt.method, tt.uri, strings.TrimPrefix(srv.URL, "http://"), req.Header.Get("Authorization"), "10.1.2.3", tt.body}
		if got != want {
			t.Errorf("%s %s reached the upstream as %+v, want %+v", tt.method, tt.uri, got, want)
		}
		if resp.StatusCode != http.StatusTeapot || resp.Header.Get("X-Upstream") != "yes" || !bytes.Equal(b, []byte(`{"from":"upstream"}`)) {
			t.Errorf("%s %s: the upstream's answer came back as %d %v %s", tt.method, tt.uri, resp.StatusCode, resp.Header, b)
		}
	}

	// An upstream that is down: a Taskcluster-style 502.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	down := "http://" + l.Addr().String()
	l.Close()
	fd2, _ := NewFrontDoor(own, down, quiet)
	rec := httptest.NewRecorder()
	fd2.ServeHTTP(rec, httptest.NewRequest("GET", "/api/queue/v1/ping", nil))
	var body map[string]string
	if rec.Code != http.StatusBadGateway || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body["code"] != "BadGateway" {
		t.Errorf("upstream down: %d %s", rec.Code, rec.Body)
	}

	for _, bad := range []string{"tc.example.com", "ftp://tc.example.com", "https://", "https://tc.example.com/?a=b"} {
		if _, err := NewFrontDoor(own, bad, quiet); err == nil {
			t.Errorf("NewFrontDoor(%q) accepted", bad)
		}
	}
}

// BenchmarkFrontDoor is the cost the front door adds to a request passed to the
// deployment: a round trip through it against one straight to the upstream.
func BenchmarkFrontDoor(b *testing.B) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, `{"tasks":[]}`)
	}))
	defer upstream.Close()
	fd, err := NewFrontDoor(http.NotFoundHandler(), upstream.URL, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	front := httptest.NewServer(fd)
	defer front.Close()
	body := []byte(`{"tasks":1,"workerGroup":"us-east-1","workerId":"i-0123456789abcdef0"}`)
	for name, base := range map[string]string{"direct": upstream.URL, "through the front door": front.URL} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				req, _ := http.NewRequest("POST", base+"/api/queue/v1/claim-work/proj/pool", bytes.NewReader(body))
				req.Header.Set("Authorization", `Hawk id="w", ts="1", nonce="n", mac="m"`)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}

// frontDoorPaths is the table of paths both front doors (this one and the
// CloudFront function in template.yaml, tested in shared/dev/samtemplate) must sort alike.
func frontDoorPaths(t *testing.T) []struct {
	Path string `json:"path"`
	Ours bool   `json:"ours"`
} {
	t.Helper()
	data, err := os.ReadFile("testdata/frontdoor-paths.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Path string `json:"path"`
		Ours bool   `json:"ours"`
	}
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	return cases
}

// TestFrontDoorNormalisesBeforeChoosing: a path whose normal form is one of ours
// (doubled slashes, dot segments, percent-encoding, another case, no trailing
// slash) is served by workerfleet, never passed to the upstream.
func TestFrontDoorNormalisesBeforeChoosing(t *testing.T) {
	var upstreamSaw []string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamSaw = append(upstreamSaw, r.RequestURI)
		_, _ = io.WriteString(w, "upstream")
	}))
	defer upstream.Close()
	own := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "own") })
	fd, err := NewFrontDoor(own, upstream.URL, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(fd)
	defer srv.Close()
	for _, tt := range frontDoorPaths(t) {
		upstreamSaw = nil
		conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		// Written by hand: an http.Client would clean or re-encode some of these.
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: tc.example.com\r\nConnection: close\r\n\r\n", tt.Path)
		b, _ := io.ReadAll(conn)
		conn.Close()
		// Go's server itself refuses a path it cannot decode (%zz) with a 400.
		if reached := len(upstreamSaw) > 0; reached == tt.Ours {
			t.Errorf("GET %s: upstream reached %v (it saw %q; answer %q), want %v", tt.Path, reached, upstreamSaw, b, !tt.Ours)
		}
		if got := OwnsPath(tt.Path); got != tt.Ours {
			t.Errorf("OwnsPath(%q) = %v, want %v", tt.Path, got, tt.Ours)
		}
	}
}
