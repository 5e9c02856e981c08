package localstack

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/dev/fakecloud"
)

func TestMetadataService(t *testing.T) {
	cfg := fakecloud.DefaultConfig()
	cfg.Seed = 7
	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	clock := fakecloud.NewManualClock(start)
	c, err := fakecloud.New(cfg, fakecloud.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	launch := func(region string, spot bool) cloud.Instance {
		got, err := c.InstanceSet("local").Launch(context.Background(), cloud.LaunchRequest{Region: region, InstanceType: "m5.large",
			ImageID: "ami-0abc", Count: 1, Spot: spot, UserData: []byte(`{"rootUrl":"x"}`), Tags: map[string]string{cloud.TagPool: "p"}})
		if err != nil || len(got) != 1 {
			t.Fatalf("Launch: %v, %v", got, err)
		}
		return got[0]
	}
	east, west := launch("us-east-1", true), launch("us-west-2", false)
	clock.Advance(time.Minute)
	c.Step()
	m := newMetadataService(c)
	m.now = clock.Now
	srv := httptest.NewServer(m)
	defer srv.Close()

	do := func(method, id, path string, header map[string]string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+"/local/imds/"+id+"/latest/"+path, nil)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	eastIP := strings.ReplaceAll(east.PrivateIP, ".", "-")
	westIP := strings.ReplaceAll(west.PrivateIP, ".", "-")
	tests := []struct {
		id, path   string
		wantStatus int
		want       string // exact body, or a prefix ending in "*"
	}{
		{east.ID, "meta-data/instance-id", 200, east.ID},
		{east.ID, "meta-data/instance-type", 200, "m5.large"},
		{east.ID, "meta-data/ami-id", 200, "ami-0abc"},
		{east.ID, "meta-data/local-ipv4", 200, east.PrivateIP},
		{east.ID, "meta-data/local-hostname", 200, "ip-" + eastIP + ".ec2.internal"},
		{west.ID, "meta-data/local-hostname", 200, "ip-" + westIP + ".us-west-2.compute.internal"},
		{east.ID, "meta-data/public-ipv4", 200, "100.*"},
		{east.ID, "meta-data/public-hostname", 200, "ec2-100-*"},
		{west.ID, "meta-data/placement/availability-zone", 200, west.AvailabilityZone},
		{west.ID, "meta-data/placement/region", 200, "us-west-2"},
		{east.ID, "meta-data/instance-life-cycle", 200, "spot"},
		{west.ID, "meta-data/instance-life-cycle", 200, "on-demand"},
		{east.ID, "meta-data/", 200, "ami-id\ninstance-id\n*"},
		{east.ID, "meta-data/spot/instance-action", 404, "*"},
		{east.ID, "meta-data/spot/termination-time", 404, "*"},
		{east.ID, "meta-data/no-such-key", 404, "*"},
		{east.ID, "user-data", 200, `{"rootUrl":"x"}`},
		{east.ID, "dynamic/instance-identity/document", 200, "{\n  \"accountId\"*"},
		{"i-0000000000000000", "meta-data/instance-id", 404, "*"},
	}
	for _, tt := range tests {
		status, body := do("GET", tt.id, tt.path, nil)
		prefix, wild := strings.CutSuffix(tt.want, "*")
		if status != tt.wantStatus || (!wild && body != tt.want) || (wild && !strings.HasPrefix(body, prefix)) {
			t.Errorf("GET %s: %d %q, want %d %q", tt.path, status, body, tt.wantStatus, tt.want)
		}
	}
	if _, a := do("GET", east.ID, "meta-data/public-hostname", nil); !strings.HasSuffix(a, ".compute-1.amazonaws.com") {
		t.Errorf("us-east-1 public hostname %q", a)
	}
	_, eastPublic := do("GET", east.ID, "meta-data/public-ipv4", nil)
	if _, westPublic := do("GET", west.ID, "meta-data/public-ipv4", nil); westPublic == eastPublic {
		t.Errorf("two instances share the public address %s", eastPublic)
	}

	// The fake cloud interrupts the spot instance: EC2's notice, two minutes ahead.
	warned := clock.Now()
	if err := c.Interrupt(east.ID); err != nil {
		t.Fatal(err)
	}
	at := warned.Add(fakecloud.SpotInterruptionNotice).UTC().Format("2006-01-02T15:04:05Z")
	for path, want := range map[string]string{
		"meta-data/spot/instance-action":  `{"action":"terminate","time":"` + at + `"}`,
		"meta-data/spot/termination-time": at,
	} {
		if status, body := do("GET", east.ID, path, nil); status != 200 || body != want {
			t.Errorf("GET %s after the interruption: %d %q, want %q", path, status, body, want)
		}
	}
	if _, body := do("GET", east.ID, "meta-data/", nil); !strings.HasSuffix(body, "\nspot/") {
		t.Errorf("meta-data/ after the interruption lists %q, want spot/ too", body)
	}

	// IMDSv2: a session token for a TTL, good for its instance until it expires.
	for _, h := range []map[string]string{
		{},
		{"X-aws-ec2-metadata-token-ttl-seconds": "0"},
		{"X-aws-ec2-metadata-token-ttl-seconds": "21601"},
		{"X-aws-ec2-metadata-token-ttl-seconds": "abc"},
	} {
		if status, _ := do("PUT", east.ID, "api/token", h); status != 400 {
			t.Errorf("PUT api/token with %v: %d, want 400", h, status)
		}
	}
	if status, _ := do("PUT", east.ID, "api/token", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "60", "X-Forwarded-For": "10.0.0.1"}); status != 403 {
		t.Errorf("PUT api/token through a proxy: %d, want 403", status)
	}
	if status, _ := do("GET", east.ID, "api/token", nil); status != 405 {
		t.Errorf("GET api/token: %d, want 405", status)
	}
	status, token := do("PUT", east.ID, "api/token", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": strconv.Itoa(60)})
	if status != 200 || token == "" {
		t.Fatalf("PUT api/token: %d %q", status, token)
	}
	withToken := map[string]string{"X-aws-ec2-metadata-token": token}
	if status, body := do("GET", east.ID, "meta-data/instance-id", withToken); status != 200 || body != east.ID {
		t.Errorf("GET with the token: %d %q", status, body)
	}
	if status, _ := do("GET", west.ID, "meta-data/instance-id", withToken); status != 401 {
		t.Errorf("GET another instance's metadata with the token: %d, want 401", status)
	}
	if status, _ := do("GET", east.ID, "meta-data/instance-id", map[string]string{"X-aws-ec2-metadata-token": token + "x"}); status != 401 {
		t.Errorf("GET with a forged token: %d, want 401", status)
	}
	clock.Advance(61 * time.Second)
	if status, _ := do("GET", east.ID, "meta-data/instance-id", withToken); status != 401 {
		t.Errorf("GET with an expired token: %d, want 401", status)
	}
	if status, _ := do("POST", east.ID, "meta-data/instance-id", nil); status != 405 {
		t.Errorf("POST: %d, want 405", status)
	}
}
