package auth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Satisfies reports whether the held scopes satisfy one required scope, as
// Taskcluster defines it: a held scope equal to it, or a held scope ending in "*"
// whose text before that "*" is a prefix of it ("*" alone satisfies everything). A
// "*" anywhere else, and any "*" in the required scope, is an ordinary character.
func Satisfies(held []string, required string) bool {
	for _, h := range held {
		if h == required {
			return true
		}
		if prefix, ok := strings.CutSuffix(h, "*"); ok && strings.HasPrefix(required, prefix) {
			return true
		}
	}
	return false
}

// ValidScope reports whether s is a scope Taskcluster accepts: printable ASCII and
// spaces only (the empty scope included).
func ValidScope(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

type exprKind uint8

const (
	invalidExpr exprKind = iota // the zero Expr, an unusable item, or an unbound parameter
	scopeExpr
	allOfExpr
	anyOfExpr
)

// Expr is a scope expression, as Taskcluster's "Required scopes": a scope, AllOf a
// list of expressions, or AnyOf a list. Scopes may hold <param> placeholders, filled
// by Bind. It fails closed: the zero Expr, an item of an unusable type, and a
// placeholder Bind found no value for are never satisfied.
type Expr struct {
	kind  exprKind
	scope string // scopeExpr; for invalidExpr, what is wrong
	items []Expr
}

// Scope is the expression requiring one scope.
func Scope(s string) Expr { return Expr{kind: scopeExpr, scope: s} }

// AllOf requires every item; items are strings (scopes) or Exprs. AllOf() is always
// satisfied, as in Taskcluster.
func AllOf(items ...any) Expr { return Expr{kind: allOfExpr, items: exprs(items)} }

// AnyOf requires at least one item; items are strings (scopes) or Exprs. AnyOf() is
// never satisfied, as in Taskcluster.
func AnyOf(items ...any) Expr { return Expr{kind: anyOfExpr, items: exprs(items)} }

func exprs(items []any) []Expr {
	out := make([]Expr, 0, len(items))
	for _, it := range items {
		switch v := it.(type) {
		case string:
			out = append(out, Scope(v))
		case Expr:
			out = append(out, v)
		default:
			out = append(out, Expr{kind: invalidExpr, scope: fmt.Sprintf("<an item of type %T>", it)})
		}
	}
	return out
}

// Bind returns the expression with every <param> placeholder (a letter, then letters
// and digits, in angle brackets) replaced by params[param]. Values are inserted as
// they are, never expanded again. A scope with a placeholder params lacks becomes
// unsatisfiable, so a programming error cannot grant access.
func (e Expr) Bind(params map[string]string) Expr {
	switch e.kind {
	case scopeExpr:
		bound, missing := bind(e.scope, params)
		if missing != "" {
			return Expr{kind: invalidExpr, scope: "<" + e.scope + " with no value for " + missing + ">"}
		}
		return Scope(bound)
	case allOfExpr, anyOfExpr:
		items := make([]Expr, len(e.items))
		for i, it := range e.items {
			items[i] = it.Bind(params)
		}
		return Expr{kind: e.kind, items: items}
	}
	return e
}

// bind fills the placeholders of s; missing names the first one params lacks.
func bind(s string, params map[string]string) (out, missing string) {
	var b strings.Builder
	for {
		open := strings.IndexByte(s, '<')
		if open < 0 {
			break
		}
		name, ok := placeholder(s[open+1:])
		if !ok {
			b.WriteString(s[:open+1])
			s = s[open+1:]
			continue
		}
		v, found := params[name]
		if !found {
			return "", "<" + name + ">"
		}
		b.WriteString(s[:open])
		b.WriteString(v)
		s = s[open+1+len(name)+1:]
	}
	b.WriteString(s)
	return b.String(), ""
}

// placeholder reads a parameter name followed by '>' at the start of s.
func placeholder(s string) (string, bool) {
	i := 0
	for i < len(s) {
		c := s[i]
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !(letter || i > 0 && '0' <= c && c <= '9') {
			break
		}
		i++
	}
	if i == 0 || i >= len(s) || s[i] != '>' {
		return "", false
	}
	return s[:i], true
}

// SatisfiedBy reports whether the held scopes satisfy the expression.
func (e Expr) SatisfiedBy(held []string) bool {
	switch e.kind {
	case scopeExpr:
		return Satisfies(held, e.scope)
	case allOfExpr:
		for _, it := range e.items {
			if !it.SatisfiedBy(held) {
				return false
			}
		}
		return true
	case anyOfExpr:
		for _, it := range e.items {
			if it.SatisfiedBy(held) {
				return true
			}
		}
		return false
	}
	return false
}

// MarshalJSON writes the expression as Taskcluster does: a string, or
// {"AllOf": [...]} / {"AnyOf": [...]}. An unusable item is written as a string
// saying what is wrong with it.
func (e Expr) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	e.writeJSON(&b)
	return b.Bytes(), nil
}

func (e Expr) writeJSON(b *bytes.Buffer) {
	switch e.kind {
	case allOfExpr, anyOfExpr:
		name := "AllOf"
		if e.kind == anyOfExpr {
			name = "AnyOf"
		}
		b.WriteString(`{"` + name + `":[`)
		for i, it := range e.items {
			if i > 0 {
				b.WriteByte(',')
			}
			it.writeJSON(b)
		}
		b.WriteString("]}")
	case scopeExpr:
		writeJSONString(b, e.scope)
	default:
		if e.scope == "" {
			writeJSONString(b, "<no scope expression>")
			return
		}
		writeJSONString(b, e.scope)
	}
}

// writeJSONString writes s as a JSON string without HTML escaping, so that
// placeholders read "<workerType>" rather than "\u003cworkerType\u003e".
func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)       // a string always encodes
	b.Truncate(b.Len() - 1) // Encode's newline
}

// String is the expression's JSON form, for 403 messages:
// {"AllOf":["a",{"AnyOf":["b","c"]}]}.
func (e Expr) String() string {
	b, _ := e.MarshalJSON()
	return string(b)
}
