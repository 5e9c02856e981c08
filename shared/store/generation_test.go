package store_test

import (
	"encoding/json"
	"testing"

	"github.com/workerfleet/workerfleet/shared/dev/storetest"
	"github.com/workerfleet/workerfleet/shared/store"
)

// TestDefinitionsGenerationChangesWithEveryWrite: every write of a worker type or
// pool gives the definitions a new generation; reads do not; the generation's own
// items appear in no listing and under no name.
func TestDefinitionsGenerationChangesWithEveryWrite(t *testing.T) {
	ctx := t.Context()
	s := storetest.New(t)
	gen := func() string {
		t.Helper()
		g, err := s.DefinitionsGeneration(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	if g := gen(); g != "" {
		t.Fatalf("generation of empty tables %q, want none", g)
	}
	def := json.RawMessage(`{"x":1}`)
	writes := []struct {
		name  string
		write func() error
	}{
		{"create worker type", func() error { _, err := s.CreateWorkerType(ctx, "wt", def); return err }},
		{"update worker type", func() error { _, err := s.UpdateWorkerType(ctx, "wt", json.RawMessage(`{"x":2}`)); return err }},
		{"create pool", func() error {
			_, err := s.CreateWorkerPool(ctx, store.WorkerPool{WorkerPoolID: "p/q", ProviderID: "aws", Config: def})
			return err
		}},
		{"update pool", func() error {
			_, err := s.UpdateWorkerPool(ctx, "p/q", func(p *store.WorkerPool) error { p.Description = "d"; return nil })
			return err
		}},
		{"delete worker type", func() error { _, err := s.DeleteWorkerType(ctx, "wt"); return err }},
	}
	prev := gen()
	for _, w := range writes {
		if err := w.write(); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		g := gen()
		if g == "" || g == prev {
			t.Errorf("%s: generation %q, was %q; want a new one", w.name, g, prev)
		}
		prev = g
	}
	if _, err := s.WorkerPools(ctx); err != nil {
		t.Fatal(err)
	}
	if g := gen(); g != prev {
		t.Errorf("a read changed the generation")
	}

	pools, err := s.WorkerPools(ctx)
	if err != nil || len(pools) != 1 || pools[0].WorkerPoolID != "p/q" {
		t.Errorf("WorkerPools = %+v, %v; want p/q alone", pools, err)
	}
	page, _, err := s.ListWorkerPools(ctx, store.Page{})
	if err != nil || len(page) != 1 {
		t.Errorf("ListWorkerPools = %+v, %v; want p/q alone", page, err)
	}
	if types, err := s.WorkerTypes(ctx); err != nil || len(types) != 0 {
		t.Errorf("WorkerTypes = %+v, %v; want none", types, err)
	}
	if _, err := s.WorkerPool(ctx, "~generation"); !store.IsNotFound(err) {
		t.Errorf("WorkerPool(~generation): %v, want not found", err)
	}
	if _, err := s.WorkerType(ctx, "~generation"); !store.IsNotFound(err) {
		t.Errorf("WorkerType(~generation): %v, want not found", err)
	}
}
