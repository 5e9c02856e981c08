package pool

import (
	"strings"
	"testing"
)

func TestValidWorkerTypeName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"builder", true},
		{"a+b/c=d_e-f", true},
		{strings.Repeat("x", 22), true},
		{strings.Repeat("x", 23), false},
		{"", false},
		{"has space", false},
		{"dot.ted", false},
	}
	for _, tt := range tests {
		if got := ValidWorkerTypeName(tt.name); got != tt.want {
			t.Errorf("ValidWorkerTypeName(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestValidWorkerPoolID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"proj-foo/builder", true},
		{"a/b", true},
		{"A_b-9/b-9", true},
		{strings.Repeat("p", 38) + "/b", true},
		{strings.Repeat("p", 39) + "/b", false},
		{"p/a" + strings.Repeat("b", 37), true},
		{"p/a" + strings.Repeat("b", 38), false},
		{"p/b-", false},
		{"p/B", false},
		{"p/1b", false},
		{"/b", false},
		{"p/", false},
		{"p", false},
		{"p/b/c", false},
	}
	for _, tt := range tests {
		if got := ValidWorkerPoolID(tt.id); got != tt.want {
			t.Errorf("ValidWorkerPoolID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func TestSplitWorkerPoolID(t *testing.T) {
	tests := []struct{ id, provisioner, workerType string }{
		{"proj-foo/builder", "proj-foo", "builder"},
		{"aws-provisioner-v1/gecko-t-linux", "aws-provisioner-v1", "gecko-t-linux"},
		{"noslash", "noslash", ""},
	}
	for _, tt := range tests {
		p, w := SplitWorkerPoolID(tt.id)
		if p != tt.provisioner || w != tt.workerType {
			t.Errorf("SplitWorkerPoolID(%q) = %q, %q; want %q, %q", tt.id, p, w, tt.provisioner, tt.workerType)
		}
	}
}

func TestValidIdentifiers(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"aws", true},
		{"null-provider", true},
		{"i-0123456789abcdef0", true},
		{"us_east_1", true},
		{strings.Repeat("x", 38), true},
		{strings.Repeat("x", 39), false},
		{"", false},
		{"a.b", false},
		{"a/b", false},
		{"a b", false},
	}
	for _, tt := range tests {
		for name, f := range map[string]func(string) bool{
			"ValidProviderID":  ValidProviderID,
			"ValidWorkerGroup": ValidWorkerGroup,
			"ValidWorkerID":    ValidWorkerID,
		} {
			if got := f(tt.s); got != tt.want {
				t.Errorf("%s(%q) = %v, want %v", name, tt.s, got, tt.want)
			}
		}
	}
}

func TestRegionsAndZones(t *testing.T) {
	regions := []struct {
		region string
		want   bool
	}{
		{"us-east-1", true},
		{"us-gov-west-1", true},
		{"ap-southeast-2", true},
		{"cn-northwest-1", true},
		{"US-EAST-1", false},
		{"us-east", false},
		{"moon-1", false},
		{"useast1", false},
		{"", false},
	}
	for _, tt := range regions {
		if got := wellFormedRegion(tt.region); got != tt.want {
			t.Errorf("wellFormedRegion(%q) = %v, want %v", tt.region, got, tt.want)
		}
	}
	zones := []struct {
		zone, region string
		want         bool
	}{
		{"us-east-1a", "us-east-1", true},
		{"us-west-2-lax-1a", "us-west-2", true},
		{"us-east-1", "us-east-1", false},
		{"us-east-1aa", "us-east-1", false},
		{"us-east-11a", "us-east-1", false},
		{"us-east-2a", "us-east-1", false},
		{"us-east-1A", "us-east-1", false},
	}
	for _, tt := range zones {
		if got := zoneOfRegion(tt.zone, tt.region); got != tt.want {
			t.Errorf("zoneOfRegion(%q, %q) = %v, want %v", tt.zone, tt.region, got, tt.want)
		}
	}
}
