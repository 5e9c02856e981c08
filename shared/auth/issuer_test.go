package auth

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	tcclient "github.com/taskcluster/taskcluster/v25/clients/client-go"
)

func TestIssuerRefusals(t *testing.T) {
	now := time.Now()
	iss := Issuer{ClientID: "user", AccessToken: userToken, Scopes: []string{"queue:*", "auth:create-client:user/*"}, Now: func() time.Time { return now }}
	tests := []struct {
		name          string
		iss           Issuer
		issuedName    string
		scopes        []string
		start, expiry time.Time
		want          string
	}{
		{"no issuer token", Issuer{ClientID: "user"}, "", nil, now, now.Add(time.Hour), "no credentials"},
		{"no issuer id", Issuer{AccessToken: userToken}, "", nil, now, now.Add(time.Hour), "no credentials"},
		{"over 31 days", iss, "", nil, now, now.Add(MaxTemporaryLifetime + time.Millisecond), "over the 31 days"},
		{"expiry equal to start", iss, "", nil, now, now, "expiry must be after start"},
		{"expiry before start", iss, "", nil, now, now.Add(-time.Hour), "expiry must be after start"},
		{"already expired", iss, "", nil, now.Add(-2 * time.Hour), now.Add(-time.Hour), "in the past"},
		{"before 1970", iss, "", nil, time.Unix(-10, 0), time.Unix(10, 0), "between the years 1970 and 9999"},
		{"after 9999", iss, "", nil, time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), time.Date(10000, 1, 2, 0, 0, 0, 0, time.UTC), "between the years 1970 and 9999"},
		{"a scope the issuer lacks", iss, "", []string{"queue:x", "secrets:get:x"}, now, now.Add(time.Hour), `does not hold scope "secrets:get:x"`},
		{"an invalid scope", iss, "", []string{"queue:\n"}, now, now.Add(time.Hour), "not printable ASCII"},
		{"a name the issuer may not create", iss, "other/x", []string{"queue:x"}, now, now.Add(time.Hour), "lacks auth:create-client:other/x"},
		{"a name that is no client id", iss, "user/a b", []string{"queue:x"}, now, now.Add(time.Hour), "not a valid client id"},
		{"the issuer's own name", Issuer{ClientID: "root", AccessToken: rootToken, Scopes: []string{"*"}}, "root", nil, now, now.Add(time.Hour), "must differ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.iss.Temporary(tt.issuedName, tt.scopes, tt.start, tt.expiry)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %+v, %v; want an error mentioning %q", got, err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), userToken) {
				t.Errorf("the error %q holds the token", err)
			}
		})
	}
}

// TestIssuedCertificate checks the certificate Temporary writes, field by field,
// against the Taskcluster format, and that the Authenticator accepts it for exactly
// its lifetime.
func TestIssuedCertificate(t *testing.T) {
	now := time.Date(2030, 5, 6, 7, 8, 9, 123456789, time.UTC)
	iss := Issuer{ClientID: "root", AccessToken: rootToken, Scopes: []string{"*"}, Now: func() time.Time { return now }}
	start, expiry := now.Add(-time.Minute), now.Add(time.Hour)
	for _, name := range []string{"", "worker/x"} {
		creds, err := iss.Temporary(name, nil, start, expiry)
		if err != nil {
			t.Fatal(err)
		}
		var c map[string]any
		if err := json.Unmarshal([]byte(creds.Certificate), &c); err != nil {
			t.Fatal(err)
		}
		seed, _ := c["seed"].(string)
		want := map[string]any{"version": float64(1), "scopes": []any{}, "start": float64(start.UnixMilli()), "expiry": float64(expiry.UnixMilli()),
			"seed": seed, "signature": c["signature"]}
		wantID := "root"
		if name != "" {
			want["issuer"], wantID = "root", name
		}
		if diff := cmp.Diff(want, c); diff != "" {
			t.Errorf("name %q: certificate (-want +got):\n%s", name, diff)
		}
		if len(seed) != SeedLength || creds.ClientID != wantID || creds.AccessToken != TemporaryAccessToken(rootToken, seed) {
			t.Errorf("name %q: credentials %+v", name, creds)
		}
		for _, tt := range []struct {
			at      time.Time
			wantErr string
		}{
			{start.Add(-CertificateStartAllowance), ""},
			{start.Add(-CertificateStartAllowance - time.Millisecond), "not valid until"},
			{expiry, ""},
			{expiry.Add(time.Millisecond), "expired at"},
		} {
			a := testAuthenticator()
			a.Now = func() time.Time { return tt.at }
			tc := &tcclient.Credentials{ClientID: creds.ClientID, AccessToken: creds.AccessToken, Certificate: creds.Certificate}
			// The official client's ext, in a header signed at tt.at: only the
			// certificate's window is under test.
			ext := attr(signed(t, tc, "GET", target, ""), "ext")
			r := hawkSignedAt(t, tt.at, creds.ClientID, creds.AccessToken, ext, "GET", target)
			got, err := a.Authenticate(ctx, r)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("name %q at %s: got %+v, %v; want error %q", name, tt.at, got, err, tt.wantErr)
			}
		}
	}
}
