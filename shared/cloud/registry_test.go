package cloud_test

import (
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/workerfleet/workerfleet/shared/cloud"
)

// stubSet is the smallest InstanceSet, for registry tests.
type stubSet struct {
	cloud.InstanceSet
	id     cloud.InstanceSetID
	config string
}

func (s stubSet) ID() cloud.InstanceSetID { return s.id }

func register(alias string) {
	cloud.Register(cloud.Driver{
		Alias:   alias,
		Name:    "stub " + alias,
		Options: []cloud.Option{{Name: "flavour", Help: "how it tastes", Default: "plain"}},
		New: func(config json.RawMessage, id cloud.InstanceSetID) (cloud.InstanceSet, error) {
			if string(config) == `"bad"` {
				return nil, errors.New("bad config")
			}
			return stubSet{id: id, config: string(config)}, nil
		},
	})
}

func TestRegistry(t *testing.T) {
	register("registry-test-b")
	register("registry-test-a")

	d, ok := cloud.Lookup("registry-test-a")
	if !ok || d.Name != "stub registry-test-a" || d.Options[0].Help != "how it tastes" {
		t.Fatalf("Lookup(registry-test-a) = %+v, %v", d, ok)
	}
	if _, ok := cloud.Lookup("registry-test-none"); ok {
		t.Errorf("Lookup of an unregistered alias succeeded")
	}

	var aliases []string
	for _, d := range cloud.Drivers() {
		aliases = append(aliases, d.Alias)
	}
	if !sort.StringsAreSorted(aliases) {
		t.Errorf("Drivers() aliases %v, want them sorted", aliases)
	}
	var ours []string
	for _, a := range aliases {
		if strings.HasPrefix(a, "registry-test-") {
			ours = append(ours, a)
		}
	}
	if diff := cmp.Diff(ours, []string{"registry-test-a", "registry-test-b"}); diff != "" {
		t.Errorf("Drivers() (-got +want):\n%s", diff)
	}

	set, err := cloud.New("registry-test-a", json.RawMessage(`{"x":1}`), "set-1")
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if got := set.(stubSet); got.id != "set-1" || got.config != `{"x":1}` {
		t.Errorf("New built %+v, want id set-1 and the config", got)
	}

	for _, tc := range []struct {
		name, alias, config, id, wantErr string
	}{
		{"unknown alias", "registry-test-none", "", "set-1", `unknown cloud driver "registry-test-none"`},
		{"empty id", "registry-test-a", "", "", "empty instance set id"},
		{"bad config", "registry-test-a", `"bad"`, "set-1", "cloud driver registry-test-a: bad config"},
	} {
		_, err := cloud.New(tc.alias, json.RawMessage(tc.config), cloud.InstanceSetID(tc.id))
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("New(%s) = %v, want an error containing %q", tc.name, err, tc.wantErr)
		}
	}
}

func TestRegisterTwicePanics(t *testing.T) {
	register("registry-test-dup")
	defer func() {
		if recover() == nil {
			t.Errorf("registering an alias twice did not panic")
		}
	}()
	register("registry-test-dup")
}
