package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/workerfleet/workerfleet/shared/app"
	"github.com/workerfleet/workerfleet/shared/dev/fakecloud"
	"github.com/workerfleet/workerfleet/shared/dev/storetest"
	"github.com/workerfleet/workerfleet/shared/provision"
	"github.com/workerfleet/workerfleet/shared/reaction"
)

// REACTION=pulse: the provisioner runs one iteration per invocation (the reaction
// function drives them) and asks each pool's count at most every 10 s.
func TestReactionSetting(t *testing.T) {
	base := map[string]string{
		"WORKER_TYPES_TABLE": "wt", "WORKER_POOLS_TABLE": "wp", "WORKERS_TABLE": "w", "SECRETS_TABLE": "s", "ERRORS_TABLE": "e",
		"CLIENTS_TABLE": "c", "STATUS_TABLE": "st", "NONCES_TABLE": "n", "ROOT_CLIENT_ID": "root", "ROOT_ACCESS_TOKEN": "tok", "SIGNING_KEY": "0123456789abcdef!", "INSTANCE_SET_ID": "prod",
	}
	cases := []struct {
		env, want, wantErr string
	}{
		{env: "", want: ""},
		{env: "off", want: ""},
		{env: "on", want: app.ReactionOn},
		{env: "pulse", want: app.ReactionOn},
		{env: "sqs", wantErr: `REACTION="sqs"`},
	}
	for _, tc := range cases {
		t.Run("REACTION="+tc.env, func(t *testing.T) {
			for k, v := range base {
				t.Setenv(k, v)
			}
			t.Setenv("REACTION", tc.env)
			cfg, err := app.FromEnv(context.Background())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || cfg.Reaction != tc.want {
				t.Fatalf("reaction %q, %v; want %q", cfg.Reaction, err, tc.want)
			}
		})
	}

	for _, r := range []string{"", app.ReactionOn} {
		fc, err := fakecloud.New(fakecloud.DefaultConfig(), fakecloud.WithLogger(quiet))
		if err != nil {
			t.Fatal(err)
		}
		cfg := app.Config{Tables: storetest.Tables(t), RootClientID: "root", RootAccessToken: "root-token-0123456789",
			SigningKey: []byte("0123456789abcdef0123456789abcdef"), InstanceSetID: "test", AllowedRegions: fakecloud.DefaultRegions, Cloud: fakecloud.Alias,
			Reaction: r}
		a, err := app.New(context.Background(), cfg, app.WithDB(storetest.DB(t)), app.WithLogger(quiet), app.WithCloud(fc.InstanceSet("test")))
		if err != nil {
			t.Fatal(err)
		}
		p, err := a.Provisioner(nil)
		if err != nil {
			t.Fatal(err)
		}
		_, limited := p.Demand.(*reaction.Demand)
		if on := r == app.ReactionOn; limited != on || (p.Config.Cadence == provision.Cadence{}) != on {
			t.Errorf("REACTION=%q: demand limited %v, cadence %+v", r, limited, p.Config.Cadence)
		}
	}
}
