package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/workerfleet/workerfleet/shared/app"
	"github.com/workerfleet/workerfleet/shared/dev/motoserver"
	"github.com/workerfleet/workerfleet/shared/dev/storetest"
	"github.com/workerfleet/workerfleet/shared/telemetry"
)

// TestTaskclusterClientFromSecretsManager: in Taskcluster mode the functions read the
// client's access token from the Secrets Manager secret the template names (moto's
// Secrets Manager here), as a bare token or as {clientId, accessToken}; nothing else
// supplies it.
func TestTaskclusterClientFromSecretsManager(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	moto, err := motoserver.Start(ctx)
	if err != nil {
		t.Skipf("moto: %v", err)
	}
	defer moto.Stop()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": moto.Endpoint(),
		"WORKER_TYPES_TABLE": "wt", "WORKER_POOLS_TABLE": "wp", "WORKERS_TABLE": "w", "SECRETS_TABLE": "s", "ERRORS_TABLE": "e",
		"CLIENTS_TABLE": "c", "STATUS_TABLE": "st", "NONCES_TABLE": "n", "ROOT_CLIENT_ID": "root", "ROOT_ACCESS_TOKEN": "tok", "SIGNING_KEY": "0123456789abcdef!",
		"INSTANCE_SET_ID": "prod", "TASKCLUSTER_ROOT_URL": "https://tc.example.com", "TASKCLUSTER_CLIENT_ID": "static/workerfleet",
	} {
		t.Setenv(k, v)
	}
	awsCfg, err := telemetry.AWSConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sm := secretsmanager.NewFromConfig(awsCfg)
	// The template passes the secret's name (its ARN works too).
	secret := func(name, value string) string {
		if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)}); err != nil {
			t.Fatal(err)
		}
		return name
	}
	tests := []struct {
		name, secret, wantToken, wantErr string
	}{
		{"bare token", "tc-access-token-0123456789\n", "tc-access-token-0123456789", ""},
		{"json", `{"clientId": "static/workerfleet", "accessToken": "tc-json-token"}`, "tc-json-token", ""},
		{"json without client id", `{"accessToken": "tc-json-token-2"}`, "tc-json-token-2", ""},
		{"json for another client", `{"clientId": "someone/else", "accessToken": "x-secret-x"}`, "", "not TASKCLUSTER_CLIENT_ID"},
		{"json without a token", `{"token": "x-secret-x"}`, "", "not {\"accessToken\""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("TASKCLUSTER_ACCESS_TOKEN_SECRET", secret("workerfleet/taskcluster-"+string(rune('a'+i)), tt.secret))
			cfg, err := app.FromEnv(ctx)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "x-secret-x") {
					t.Fatalf("FromEnv: %v, want an error saying %q without the secret", err, tt.wantErr)
				}
				return
			}
			if err != nil || cfg.TaskclusterAccessToken != tt.wantToken || !cfg.TaskclusterMode() {
				t.Fatalf("FromEnv: token %q, mode %v, %v", cfg.TaskclusterAccessToken, cfg.TaskclusterMode(), err)
			}
		})
	}
	t.Setenv("TASKCLUSTER_ACCESS_TOKEN_SECRET", "")
	t.Setenv("TASKCLUSTER_ACCESS_TOKEN", "a-plain-env-var")
	if _, err := app.FromEnv(ctx); err == nil || !strings.Contains(err.Error(), "TASKCLUSTER_ACCESS_TOKEN_SECRET") {
		t.Errorf("a client id without the secret: %v, want an error naming TASKCLUSTER_ACCESS_TOKEN_SECRET", err)
	}
}

// TestTaskclusterModeIssuer: in Taskcluster mode the Taskcluster client issues worker
// credentials and mails emailOnError errors; standalone the root issues and nothing
// is mailed. A half-configured client is refused.
func TestTaskclusterModeIssuer(t *testing.T) {
	base := app.Config{Tables: storetest.Tables(t), RootClientID: "root", RootAccessToken: "root-token-0123456789",
		SigningKey: []byte("0123456789abcdef0123456789abcdef"), InstanceSetID: "test", AllowedRegions: []string{"us-east-1"}}
	standalone, err := app.New(context.Background(), base, app.WithDB(storetest.DB(t)), app.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	if standalone.Issuer.ClientID != "root" || standalone.Mailer != nil || standalone.TaskclusterCredentials() != nil {
		t.Errorf("standalone: issuer %s, mailer %v", standalone.Issuer.ClientID, standalone.Mailer)
	}
	tc := base
	tc.TaskclusterRootURL, tc.TaskclusterClientID, tc.TaskclusterAccessToken = "https://tc.example.com", "static/workerfleet", "tc-token"
	a, err := app.New(context.Background(), tc, app.WithDB(storetest.DB(t)), app.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	if a.Issuer.ClientID != "static/workerfleet" || a.Issuer.AccessToken != "tc-token" || a.Mailer == nil {
		t.Errorf("Taskcluster mode: issuer %s, mailer %v", a.Issuer.ClientID, a.Mailer)
	}
	for name, change := range map[string]func(*app.Config){
		"no root URL":   func(c *app.Config) { c.TaskclusterRootURL = "" },
		"no token":      func(c *app.Config) { c.TaskclusterAccessToken = "" },
		"no client id":  func(c *app.Config) { c.TaskclusterClientID = "" },
		"the root's id": func(c *app.Config) { c.TaskclusterClientID = "root" },
	} {
		c := tc
		change(&c)
		if _, err := app.New(context.Background(), c, app.WithDB(storetest.DB(t)), app.WithLogger(quiet)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
