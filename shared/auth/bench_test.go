package auth

import (
	"testing"
	"time"

	tcclient "github.com/taskcluster/taskcluster/v25/clients/client-go"
)

// BenchmarkAuthenticate measures one authentication of a request the official
// client signed, as the API sees it behind API Gateway: three candidate URIs, the
// signed one second (the decoded path is tried first).
func BenchmarkAuthenticate(b *testing.B) {
	user := perm("user", userToken)
	temp, err := user.CreateTemporaryCredentials(time.Hour, "queue:create-task:proj/*", "worker-manager:manage-worker-pool:proj/pool")
	if err != nil {
		b.Fatal(err)
	}
	named, err := user.CreateNamedTemporaryCredentials("user/worker-1", time.Hour, "queue:claim-work:proj/pool")
	if err != nil {
		b.Fatal(err)
	}
	for _, bb := range []struct {
		name  string
		creds *tcclient.Credentials
	}{
		{"permanent", user},
		{"temporary", temp},
		{"named-temporary", named},
	} {
		b.Run(bb.name, func(b *testing.B) {
			a := testAuthenticator()
			r := signed(b, bb.creds, "GET", "https://tc.example.com/api/worker-manager/v1/worker-pool/proj%2Fpool?limit=10", "")
			r.Resources = append(gatewayResources("/api/worker-manager/v1/worker-pool/proj/pool", "limit=10"), "/api/worker-manager/v1/worker-pool/proj%2Fpool?limit=10&x")
			b.ReportAllocs()
			for b.Loop() {
				if _, err := a.Authenticate(ctx, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("anonymous", func(b *testing.B) {
		a := testAuthenticator()
		r := Request{Method: "GET", Host: "tc.example.com", Port: "443", Resources: gatewayResources("/api/worker-manager/v1/worker-pool/proj/pool", "")}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := a.Authenticate(ctx, r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
