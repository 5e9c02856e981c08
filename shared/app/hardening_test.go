package app_test

import (
	"strings"
	"testing"
	"time"

	tcclient "github.com/taskcluster/taskcluster/v25/clients/client-go"

	"github.com/workerfleet/workerfleet/shared/app"
	"github.com/workerfleet/workerfleet/shared/apptest"
	"github.com/workerfleet/workerfleet/shared/auth"
	"github.com/workerfleet/workerfleet/shared/store"
	"github.com/workerfleet/workerfleet/shared/store/storetest"
)

// These tests hold the findings of a security review (issue 14) through the HTTP
// layer: each failed before its fix.

const (
	apBase = "/api/aws-provisioner/v1"
	wmBase = "/api/worker-manager/v1"
)

// countingHarness is the APIs over a DynamoDB client that counts its requests.
func countingHarness(t *testing.T) (*apptest.Harness, *store.CountingDB) {
	t.Helper()
	db := store.NewCountingDB(storetest.DB(t))
	return apptest.New(t, app.WithDB(db)), db
}

// TestOversizedKeysAreRefusedBeforeDynamoDB: a client id, a certificate issuer or a
// path parameter too long to be a DynamoDB key is a 4xx, and no request reaches
// DynamoDB (which would answer "key values must be under 2048 bytes", a 500).
func TestOversizedKeysAreRefusedBeforeDynamoDB(t *testing.T) {
	h, db := countingHarness(t)
	long := strings.Repeat("a", 3000)
	named, err := (&tcclient.Credentials{ClientID: long, AccessToken: "whatever-token"}).CreateNamedTemporaryCredentials("someone", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, method, path string
		creds              *tcclient.Credentials
		wantStatus         int
	}{
		{"client id", "GET", apBase + "/worker-type/wt", &tcclient.Credentials{ClientID: long, AccessToken: "x"}, 401},
		{"client id on a write", "DELETE", apBase + "/worker-type/wt", &tcclient.Credentials{ClientID: long, AccessToken: "x"}, 401},
		{"certificate issuer", "GET", apBase + "/worker-type/wt", named, 401},
		{"instance id", "GET", apBase + "/instance-started/" + long + "/" + "tok", nil, 400},
		{"instance id (under the path bound)", "GET", apBase + "/instance-started/" + long[:1000] + "/" + "tok", nil, 404},
		{"secret token", "GET", apBase + "/secret/" + long, nil, 400},
		{"worker type", "GET", apBase + "/worker-type/" + long, nil, 400},
		{"worker pool", "GET", wmBase + "/worker-pool/" + long + "%2Fx", nil, 400},
		{"worker", "GET", wmBase + "/workers/proj%2Fx:/" + long + "/" + long, nil, 400},
	} {
		db.Reset()
		r := h.Do(tt.creds, tt.method, tt.path, nil)
		if r.Status != tt.wantStatus || r.Code() == "" {
			t.Errorf("%s: %d %s, want %d with a Taskcluster error", tt.name, r.Status, truncate(r.Body), tt.wantStatus)
		}
		if n := db.Total(); n != 0 {
			t.Errorf("%s: %d DynamoDB requests (%v), want none", tt.name, n, db.Ops())
		}
	}
}

// TestCertificateStartingTooFarAheadIsRefused: a temporary certificate may start at
// most 5 minutes ahead (Taskcluster's rule), not the 15 minutes of a header's ts.
func TestCertificateStartingTooFarAheadIsRefused(t *testing.T) {
	h := apptest.New(t)
	iss := auth.Issuer{ClientID: "root", AccessToken: apptest.RootToken, Scopes: []string{"*"}}
	for _, tt := range []struct {
		ahead      time.Duration
		wantStatus int
	}{
		{4 * time.Minute, 200},
		{10 * time.Minute, 401},
	} {
		now := time.Now()
		c, err := iss.Temporary("", []string{"*"}, now.Add(tt.ahead), now.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		creds := &tcclient.Credentials{ClientID: c.ClientID, AccessToken: c.AccessToken, Certificate: c.Certificate}
		r := h.Do(creds, "GET", apBase+"/list-worker-types", nil)
		if r.Status != tt.wantStatus {
			t.Errorf("certificate starting %s ahead: %d %s, want %d", tt.ahead, r.Status, truncate(r.Body), tt.wantStatus)
		}
		if tt.wantStatus == 401 && !strings.Contains(string(r.Body), "not valid until") {
			t.Errorf("certificate starting %s ahead: %s, want it to say when it becomes valid", tt.ahead, truncate(r.Body))
		}
	}
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}
