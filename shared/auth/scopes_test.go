package auth

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSatisfies(t *testing.T) {
	tests := []struct {
		held     []string
		required string
		want     bool
	}{
		{[]string{"a:b"}, "a:b", true},
		{[]string{"a:b"}, "a:b:c", false},
		{[]string{"a:b"}, "a:", false},
		{[]string{"a:b:c"}, "a:b", false},
		{[]string{"a:*"}, "a:b:c", true},
		{[]string{"a:*"}, "a:", true},
		{[]string{"a:*"}, "a:*", true},
		{[]string{"a:*"}, "a", false},
		{[]string{"a:*"}, "b:a:", false},
		{[]string{"a*"}, "a", true},
		{[]string{"a*"}, "abc", true},
		{[]string{"*"}, "anything at all", true},
		{[]string{"*"}, "", true},
		{[]string{""}, "", true},
		{[]string{""}, "a", false},
		{[]string{"a*b"}, "axb", false},  // a '*' inside is literal
		{[]string{"a*b"}, "a*b", true},   // and matches itself
		{[]string{"a:b"}, "a:*", false},  // a required '*' is literal
		{[]string{"a:**"}, "a:*x", true}, // only the last '*' is a wildcard
		{[]string{"a:**"}, "a:x", false},
		{[]string{"A:*"}, "a:b", false}, // case matters
		{[]string{"a: *"}, "a: b", true},
		{[]string{"x", "y", "a:*"}, "a:b", true},
		{nil, "a", false},
		{[]string{}, "", false},
	}
	for _, tt := range tests {
		if got := Satisfies(tt.held, tt.required); got != tt.want {
			t.Errorf("Satisfies(%q, %q) = %v, want %v", tt.held, tt.required, got, tt.want)
		}
	}
}

func TestValidScope(t *testing.T) {
	for _, tt := range []struct {
		scope string
		want  bool
	}{
		{"queue:create-task:proj/*", true},
		{"a b ~!@#$%^&*()_+{}|:\"<>?`-=[]\\;',./", true},
		{"", true},
		{"a\nb", false},
		{"a\tb", false},
		{"\x7f", false},
		{"caf\u00e9", false},
		{"\x00", false},
	} {
		if got := ValidScope(tt.scope); got != tt.want {
			t.Errorf("ValidScope(%q) = %v, want %v", tt.scope, got, tt.want)
		}
	}
}

func TestExpr(t *testing.T) {
	manage := Scope("worker-manager:manage-worker-pool:<workerPoolId>")
	nested := AllOf(manage, AnyOf("worker-manager:provider:<providerId>", "admin:<providerId>x"), "a:<workerPoolId>/<workerPoolId>")
	params := map[string]string{"workerPoolId": "proj/pool", "providerId": "aws"}
	tests := []struct {
		name     string
		expr     Expr
		held     []string
		want     bool
		wantJSON string
	}{
		{"scope, held", manage.Bind(params), []string{"worker-manager:manage-worker-pool:proj/pool"}, true,
			`"worker-manager:manage-worker-pool:proj/pool"`},
		{"scope, prefix held", manage.Bind(params), []string{"worker-manager:manage-worker-pool:proj/*"}, true,
			`"worker-manager:manage-worker-pool:proj/pool"`},
		{"scope, another pool held", manage.Bind(params), []string{"worker-manager:manage-worker-pool:proj/other"}, false,
			`"worker-manager:manage-worker-pool:proj/pool"`},
		{"unbound template: its literal text", manage, []string{"worker-manager:manage-worker-pool:<workerPoolId>"}, true,
			`"worker-manager:manage-worker-pool:<workerPoolId>"`},
		{"nested, all held", nested.Bind(params), []string{"worker-manager:*", "a:proj/pool/proj/pool"}, true,
			`{"AllOf":["worker-manager:manage-worker-pool:proj/pool",{"AnyOf":["worker-manager:provider:aws","admin:awsx"]},"a:proj/pool/proj/pool"]}`},
		{"nested, the other AnyOf branch", nested.Bind(params), []string{"worker-manager:manage-worker-pool:proj/pool", "admin:awsx", "a:*"}, true, ""},
		{"nested, no AnyOf branch", nested.Bind(params), []string{"worker-manager:manage-worker-pool:proj/pool", "a:*"}, false, ""},
		{"nested, an AllOf item missing", nested.Bind(params), []string{"worker-manager:provider:aws", "a:*"}, false, ""},
		{"empty AllOf", AllOf(), nil, true, `{"AllOf":[]}`},
		{"empty AnyOf", AnyOf(), []string{"*"}, false, `{"AnyOf":[]}`},
		{"AnyOf of empty AllOf", AnyOf(AllOf()), nil, true, `{"AnyOf":[{"AllOf":[]}]}`},
		{"AllOf of empty AnyOf", AllOf("a", AnyOf()), []string{"*"}, false, `{"AllOf":["a",{"AnyOf":[]}]}`},
		{"deep nesting", AnyOf(AllOf(AnyOf(AllOf("x", "y"), "z"))), []string{"z"}, true, `{"AnyOf":[{"AllOf":[{"AnyOf":[{"AllOf":["x","y"]},"z"]}]}]}`},
		{"missing parameter fails closed", manage.Bind(map[string]string{"other": "x"}), []string{"*"}, false,
			`"<worker-manager:manage-worker-pool:<workerPoolId> with no value for <workerPoolId>>"`},
		{"missing parameter: only its item fails", AnyOf("b", "a:<x>").Bind(nil), []string{"*"}, true, ""},
		{"missing parameter inside AllOf fails closed", AllOf("b", "a:<x>").Bind(nil), []string{"*"}, false, ""},
		{"values are not expanded again", Scope("a:<x>:<y>").Bind(map[string]string{"x": "<y>", "y": "1"}), []string{"a:<y>:1"}, true, `"a:<y>:1"`},
		{"not a placeholder stays", Scope("a:<1x>:<>:<x-y>:<x").Bind(map[string]string{"x": "v"}), []string{"a:<1x>:<>:<x-y>:<x"}, true, `"a:<1x>:<>:<x-y>:<x"`},
		{"a scope with JSON specials", Scope(`a:"b"\c`), []string{`a:"b"\c`}, true, `"a:\"b\"\\c"`},
		{"an unusable item fails closed", AnyOf(42), []string{"*"}, false, `{"AnyOf":["<an item of type int>"]}`},
		{"the zero Expr fails closed", Expr{}, []string{"*"}, false, `"<no scope expression>"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.expr.SatisfiedBy(tt.held); got != tt.want {
				t.Errorf("%s satisfied by %q = %v, want %v", tt.expr, tt.held, got, tt.want)
			}
			if tt.wantJSON == "" {
				return
			}
			if got := tt.expr.String(); got != tt.wantJSON {
				t.Errorf("String() = %s, want %s", got, tt.wantJSON)
			}
			// encoding/json escapes <, > and & in what a MarshalJSON returns: the same
			// value in other bytes.
			raw, err := json.Marshal(tt.expr)
			var got, want any
			if err != nil || json.Unmarshal(raw, &got) != nil || json.Unmarshal([]byte(tt.wantJSON), &want) != nil {
				t.Fatalf("json.Marshal = %s, %v; want %s", raw, err, tt.wantJSON)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("json.Marshal = %s (-want +got):\n%s", raw, diff)
			}
		})
	}
	// Bind leaves the template alone.
	if got := manage.String(); got != `"worker-manager:manage-worker-pool:<workerPoolId>"` {
		t.Errorf("the template changed: %s", got)
	}
}
