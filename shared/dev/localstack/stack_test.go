package localstack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/dev/fakecloud"
	"github.com/workerfleet/workerfleet/shared/provision"
)

// TestPrintReportCountsOrphansApart: the report's Terminated is the iteration's total;
// the "no known pool" line shows only its Orphans.
func TestPrintReportCountsOrphansApart(t *testing.T) {
	tests := []struct {
		name       string
		total      int
		perPool    int
		wantOrphan string // "" = no orphan line
	}{
		{"a deleted pool's instances only", 2, 2, ""},
		{"orphans beside a pool's", 5, 2, "terminated 3 instances of no known pool"},
		{"orphans only", 1, 0, "terminated 1 instances of no known pool"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			s := &Stack{Options: Options{Out: &out}}
			s.printReport(&provision.Report{Terminated: tt.total, Orphans: tt.total - tt.perPool,
				Pools: []provision.PoolReport{{Key: "p", Name: "proj/pool", Terminated: tt.perPool}}})
			got := out.String()
			if !strings.Contains(got, "proj/pool") {
				t.Errorf("no line for the pool:\n%s", got)
			}
			if has := strings.Contains(got, "no known pool"); has != (tt.wantOrphan != "") || !strings.Contains(got, tt.wantOrphan) {
				t.Errorf("output:\n%swant orphan line %q", got, tt.wantOrphan)
			}
		})
	}
}

func TestFakeConfig(t *testing.T) {
	base := Options{Seed: 7, BootDelay: 5 * time.Second, ShutdownDelay: 4 * time.Second}
	tests := []struct {
		name     string
		json     string
		wantErr  string
		wantSeed int64
		wantBoot time.Duration
		wantRate float64
		wantShut time.Duration
	}{
		{"none: the stack's seed and delays", "", "", 7, 5 * time.Second, 0, 4 * time.Second},
		{"injected errors keep the stack's delays", `{"capacityErrorRate": 0.3}`, "", 7, 5 * time.Second, 0.3, 4 * time.Second},
		{"its own seed and bootDelay win", `{"seed": 9, "bootDelay": "30s"}`, "", 9, 30 * time.Second, 0, 4 * time.Second},
		{"an unknown option", `{"capacityErrorRat": 0.3}`, "FAKE_CLOUD", 0, 0, 0, 0},
		{"not JSON", `capacityErrorRate=0.3`, "FAKE_CLOUD", 0, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base
			o.FakeCloud = json.RawMessage(tt.json)
			fc, err := fakeConfig(o)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fc.Seed != tt.wantSeed || time.Duration(fc.BootDelay) != tt.wantBoot || fc.CapacityErrorRate != tt.wantRate || time.Duration(fc.ShutdownDelay) != tt.wantShut {
				t.Errorf("seed %d boot %v shutdown %v capacityErrorRate %v; want %d %v %v %v", fc.Seed, time.Duration(fc.BootDelay),
					time.Duration(fc.ShutdownDelay), fc.CapacityErrorRate, tt.wantSeed, tt.wantBoot, tt.wantShut, tt.wantRate)
			}
		})
	}
}

// A seed holds the spot prices still, so that a run repeats; FAKE_CLOUD may still
// move them, and without a seed they move as the driver's default has it.
func TestFakeConfigSeedHoldsPricesStill(t *testing.T) {
	moving := fakecloud.DefaultConfig().PriceVolatility
	for _, tt := range []struct {
		name string
		seed int64
		json string
		want float64
	}{
		{"seed", 42, "", 0},
		{"seed, FAKE_CLOUD moves them", 42, `{"priceVolatility": 0.05}`, 0.05},
		{"FAKE_CLOUD's seed alone", 0, `{"seed": 3}`, moving},
		{"no seed", 0, "", moving},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fc, err := fakeConfig(Options{Seed: tt.seed, FakeCloud: json.RawMessage(tt.json)})
			if err != nil {
				t.Fatal(err)
			}
			if fc.PriceVolatility != tt.want {
				t.Errorf("priceVolatility %v, want %v", fc.PriceVolatility, tt.want)
			}
		})
	}
}

// The sample EC2 events (events/ec2-events-*.json) name the first instance the
// README's walkthrough launches with SEED=2 (2 x c5.xlarge in us-west-2b), so that
// make invoke FN=ec2-events acts on a worker the walkthrough has.
func TestSampleEventsNameTheWalkthroughsFirstInstance(t *testing.T) {
	fc, err := fakeConfig(Options{Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	c, err := fakecloud.New(fc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.InstanceSet("local").Launch(context.Background(), cloud.LaunchRequest{Region: "us-west-2", AvailabilityZone: "us-west-2b",
		InstanceType: "c5.xlarge", ImageID: "ami-0fedcba9876543210", Count: 2, Spot: true, ClientToken: "walkthrough"})
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join("..", "..", "..", "events", "ec2-events*.json"))
	if len(files) == 0 {
		t.Fatal("no sample EC2 events")
	}
	for _, f := range files {
		var ev struct {
			Region string `json:"region"`
			Detail struct {
				InstanceID string `json:"instance-id"`
			} `json:"detail"`
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if ev.Detail.InstanceID != got[0].ID || ev.Region != got[0].Region {
			t.Errorf("%s names %s in %s; the walkthrough's first instance is %s in %s", f, ev.Detail.InstanceID, ev.Region, got[0].ID, got[0].Region)
		}
	}
}

func TestBannerInTaskclusterMode(t *testing.T) {
	s := &Stack{Options: Options{RootClientID: "root", RootAccessToken: "tok", ProvisionInterval: time.Second,
		TaskclusterRootURL: "https://tc.example.com/a%20b", TaskclusterClientID: "project/workerfleet", TaskclusterAccessToken: "tc-secret"},
		URL: "http://127.0.0.1:8080"}
	b := s.Banner()
	for _, want := range []string{"Taskcluster mode: acting as project/workerfleet of https://tc.example.com/a%20b",
		"everything else     https://tc.example.com/a%20b (through http://127.0.0.1:8080)", "# create tasks for proj-ci/linux in"} {
		if !strings.Contains(b, want) {
			t.Errorf("banner lacks %q:\n%s", want, b)
		}
	}
	for _, unwanted := range []string{"fake queue", "/local/queue/pending", "tc-secret", "%!"} {
		if strings.Contains(b, unwanted) {
			t.Errorf("banner in Taskcluster mode shows %q:\n%s", unwanted, b)
		}
	}
	s.Options = Options{RootClientID: "root", RootAccessToken: "tok", ProvisionInterval: time.Second}
	if b := s.Banner(); !strings.Contains(b, "fake queue          http://127.0.0.1:8080/api/queue/v1/pending/") || strings.Contains(b, "Taskcluster mode") {
		t.Errorf("standalone banner:\n%s", b)
	}
}

// TestBannerNamesTheStacksPort: on another port than 8080, the banner's make
// commands carry PORT=, which finds that stack whatever else runs; on 8080 they
// need none.
func TestBannerNamesTheStacksPort(t *testing.T) {
	for _, tt := range []struct {
		port       int
		want, lack string
	}{
		{8080, "\n  make api ARGS='PUT", "PORT="},
		{9000, "\n  PORT=9000 make api ARGS='PUT", ""},
		{9000, "(PORT=9000 make status in a terminal)", ""},
	} {
		s := &Stack{Options: Options{Port: tt.port, RootClientID: "root", RootAccessToken: "tok", ProvisionInterval: time.Second},
			URL: fmt.Sprintf("http://127.0.0.1:%d", tt.port)}
		b := s.Banner()
		if !strings.Contains(b, tt.want) || (tt.lack != "" && strings.Contains(b, tt.lack)) {
			t.Errorf("port %d: banner lacks %q (or shows %q):\n%s", tt.port, tt.want, tt.lack, b)
		}
	}
}
