package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/provisioning.md's drivers section from driverDocs")

const (
	docsBegin = "<!-- drivers:begin -->\n"
	docsEnd   = "<!-- drivers:end -->"
)

// TestREADMEDriverDocs keeps the README's cloud driver options equal to what the
// registered drivers say about themselves.
func TestREADMEDriverDocs(t *testing.T) {
	path := filepath.Join("..", "..", "..", "..", "docs", "provisioning.md")
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	begin, end := strings.Index(text, docsBegin), strings.Index(text, docsEnd)
	if begin < 0 || end < begin {
		t.Fatalf("docs/provisioning.md lacks the %q ... %q markers", strings.TrimSpace(docsBegin), docsEnd)
	}
	var want bytes.Buffer
	driverDocs(&want)
	for _, alias := range []string{"`ec2`", "`fake`"} {
		if !strings.Contains(want.String(), "#### "+alias) {
			t.Errorf("driverDocs does not describe the %s driver:\n%s", alias, want.String())
		}
	}
	got := text[begin+len(docsBegin) : end]
	if got == want.String() {
		return
	}
	if *update {
		text = text[:begin+len(docsBegin)] + want.String() + text[end:]
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("docs/provisioning.md's drivers section differs from `go run ./shared/dev/cmd/local docs`; run go test ./shared/dev/cmd/local -run README -update\nwant:\n%s", want.String())
}
