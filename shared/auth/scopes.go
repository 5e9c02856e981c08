package auth

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// Satisfies reports whether the held scopes satisfy one required scope, as Taskcluster
// defines it: a held scope equal to it, or a held scope ending in "*" whose prefix
// (before the "*") starts it. A "*" anywhere else, or in the required scope, is an
// ordinary character.
func Satisfies(held []string, required string) bool {
	for _, h := range held {
		if h == required {
			return true
		}
		if strings.HasSuffix(h, "*") && strings.HasPrefix(required, h[:len(h)-1]) {
			return true
		}
	}
	return false
}

// ValidScope reports whether s is a scope Taskcluster accepts: printable ASCII and
// spaces only.
func ValidScope(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// Expr is a scope expression, as Taskcluster's "Required scopes": a scope, AllOf a
// list of expressions, or AnyOf a list. Scopes may hold <param> placeholders, filled
// by Bind.
type Expr struct {
	op    string // "", "AllOf" or "AnyOf"
	scope string
	items []Expr
}

// Scope is the expression requiring one scope.
func Scope(s string) Expr { return Expr{scope: s} }

// AllOf requires every item (strings or Exprs); AllOf() is always satisfied.
func AllOf(items ...any) Expr { return Expr{op: "AllOf", items: exprs(items)} }

// AnyOf requires one of the items (strings or Exprs); AnyOf() is never satisfied.
func AnyOf(items ...any) Expr { return Expr{op: "AnyOf", items: exprs(items)} }

func exprs(items []any) []Expr {
	out := make([]Expr, 0, len(items))
	for _, it := range items {
		switch v := it.(type) {
		case string:
			out = append(out, Scope(v))
		case Expr:
			out = append(out, v)
		default:
			panic(fmt.Sprintf("auth: scope expression item of type %T", it)) // a programming error
		}
	}
	return out
}

var placeholder = regexp.MustCompile(`<([A-Za-z][A-Za-z0-9]*)>`)

// Bind returns the expression with each <param> replaced by params[param].
func (e Expr) Bind(params map[string]string) Expr {
	if e.op == "" {
		return Expr{scope: placeholder.ReplaceAllStringFunc(e.scope, func(m string) string {
			if v, ok := params[m[1:len(m)-1]]; ok {
				return v
			}
			return m
		})}
	}
	items := make([]Expr, len(e.items))
	for i, it := range e.items {
		items[i] = it.Bind(params)
	}
	return Expr{op: e.op, items: items}
}

// SatisfiedBy reports whether the held scopes satisfy the expression.
func (e Expr) SatisfiedBy(held []string) bool {
	switch e.op {
	case "AllOf":
		for _, it := range e.items {
			if !it.SatisfiedBy(held) {
				return false
			}
		}
		return true
	case "AnyOf":
		for _, it := range e.items {
			if it.SatisfiedBy(held) {
				return true
			}
		}
		return false
	}
	return Satisfies(held, e.scope)
}

// MarshalJSON writes the expression as Taskcluster does: a string, or
// {"AllOf": [...]} / {"AnyOf": [...]}.
func (e Expr) MarshalJSON() ([]byte, error) {
	if e.op == "" {
		return json.Marshal(e.scope)
	}
	return json.Marshal(map[string][]Expr{e.op: e.items})
}

// String is the expression's JSON form, for messages.
func (e Expr) String() string {
	b, _ := e.MarshalJSON()
	return string(b)
}
