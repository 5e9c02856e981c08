package pool

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// minimalWorkerTypeJSON is the smallest valid worker type: every required field, no
// optional one.
const minimalWorkerTypeJSON = `{
  "description": "d", "owner": "o@example.com",
  "maxCapacity": 10, "minPrice": 0, "maxPrice": 1, "scalingRatio": 0,
  "launchSpec": {}, "userData": {}, "secrets": {}, "scopes": [],
  "regions": [{"region": "us-east-1", "launchSpec": {"ImageId": "ami-1"}, "userData": {}, "secrets": {}, "scopes": []}],
  "instanceTypes": [{"instanceType": "m5.large", "capacity": 1, "utility": 1, "launchSpec": {}, "userData": {}, "secrets": {}, "scopes": []}]
}`

// doc decodes JSON into plain maps and slices for tests to edit.
func doc(t testing.TB, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("test document does not decode: %v", err)
	}
	return m
}

func encode(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode test document: %v", err)
	}
	return b
}

// set sets the value at a dotted path (numbers index arrays) of m, creating objects
// on the way.
func set(m map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	var node any = m
	for i, p := range parts {
		last := i == len(parts)-1
		switch n := node.(type) {
		case map[string]any:
			if last {
				n[p] = v
				return
			}
			if _, ok := n[p]; !ok {
				n[p] = map[string]any{}
			}
			node = n[p]
		case []any:
			j, _ := strconv.Atoi(p)
			if last {
				n[j] = v
				return
			}
			node = n[j]
		}
	}
}

// del deletes the member at a dotted path of m.
func del(m map[string]any, path string) {
	parts := strings.Split(path, ".")
	var node any = m
	for i, p := range parts {
		switch n := node.(type) {
		case map[string]any:
			if i == len(parts)-1 {
				delete(n, p)
				return
			}
			node = n[p]
		case []any:
			j, _ := strconv.Atoi(p)
			node = n[j]
		}
	}
}

// get reads the value at a dotted path of m.
func get(m map[string]any, path string) any {
	var node any = m
	for _, p := range strings.Split(path, ".") {
		switch n := node.(type) {
		case map[string]any:
			node = n[p]
		case []any:
			j, _ := strconv.Atoi(p)
			node = n[j]
		}
	}
	return node
}

// problemsOf returns the problems of an *InvalidError, failing the test for any
// other error.
func problemsOf(t testing.TB, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var ie *InvalidError
	if !errors.As(err, &ie) {
		t.Fatalf("error %v (%T) is not an *InvalidError", err, err)
	}
	if len(ie.Problems) == 0 {
		t.Fatalf("*InvalidError without problems: %v", err)
	}
	return ie.Problems
}

// decodeJSON decodes JSON into plain values for comparisons.
func decodeJSON(t testing.TB, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s does not decode: %v", b, err)
	}
	return v
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read testdata: %v", err)
	}
	return b
}
