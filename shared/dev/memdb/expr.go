package memdb

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The expression language, as far as the store speaks it:
//
//	cond    = and { "OR" and }
//	and     = unary { "AND" unary }
//	unary   = "NOT" unary | "(" cond ")" | fn | operand cmp operand
//	fn      = ("attribute_exists" | "attribute_not_exists") "(" path ")"
//	        | "begins_with" "(" operand "," operand ")"
//	cmp     = "=" | "<>" | "<" | "<=" | ">" | ">="
//	operand = ":value" | "#name" | name
//	update  = { ("SET" path "=" operand {"," path "=" operand}) | ("REMOVE" path {"," path})
//	          | ("ADD" path operand {"," path operand}) }   (ADD: numbers only)
//
// Anything else is a ValidationException, so a store change that needs more
// fails loudly in the simulator's tests rather than being misread.

type node interface {
	eval(item map[string]types.AttributeValue, env *env) (bool, error)
}

type env struct {
	names  map[string]string
	values map[string]types.AttributeValue
}

func (e *env) name(tok string) (string, error) {
	if strings.HasPrefix(tok, "#") {
		n, ok := e.names[tok]
		if !ok {
			return "", fmt.Errorf("undefined expression attribute name %s", tok)
		}
		return n, nil
	}
	return tok, nil
}

// operand is a path or a value placeholder.
type operand string

func (o operand) resolve(item map[string]types.AttributeValue, env *env) (types.AttributeValue, error) {
	s := string(o)
	if strings.HasPrefix(s, ":") {
		v, ok := env.values[s]
		if !ok {
			return nil, fmt.Errorf("undefined expression attribute value %s", s)
		}
		return v, nil
	}
	n, err := env.name(s)
	if err != nil {
		return nil, err
	}
	return item[n], nil
}

type orNode struct{ a, b node }
type andNode struct{ a, b node }
type notNode struct{ a node }
type existsNode struct {
	path operand
	want bool
}
type beginsNode struct{ a, b operand }
type cmpNode struct {
	op   string
	a, b operand
}

func (n orNode) eval(item map[string]types.AttributeValue, e *env) (bool, error) {
	ok, err := n.a.eval(item, e)
	if err != nil || ok {
		return ok, err
	}
	return n.b.eval(item, e)
}

func (n andNode) eval(item map[string]types.AttributeValue, e *env) (bool, error) {
	ok, err := n.a.eval(item, e)
	if err != nil || !ok {
		return ok, err
	}
	return n.b.eval(item, e)
}

func (n notNode) eval(item map[string]types.AttributeValue, e *env) (bool, error) {
	ok, err := n.a.eval(item, e)
	return !ok, err
}

func (n existsNode) eval(item map[string]types.AttributeValue, e *env) (bool, error) {
	v, err := n.path.resolve(item, e)
	if err != nil {
		return false, err
	}
	return (v != nil) == n.want, nil
}

func (n beginsNode) eval(item map[string]types.AttributeValue, e *env) (bool, error) {
	a, err := n.a.resolve(item, e)
	if err != nil {
		return false, err
	}
	b, err := n.b.resolve(item, e)
	if err != nil {
		return false, err
	}
	return beginsWith(a, b), nil
}

func beginsWith(a, b types.AttributeValue) bool {
	as, ok1 := a.(*types.AttributeValueMemberS)
	bs, ok2 := b.(*types.AttributeValueMemberS)
	return ok1 && ok2 && strings.HasPrefix(as.Value, bs.Value)
}

func (n cmpNode) eval(item map[string]types.AttributeValue, e *env) (bool, error) {
	a, err := n.a.resolve(item, e)
	if err != nil {
		return false, err
	}
	b, err := n.b.resolve(item, e)
	if err != nil {
		return false, err
	}
	return compareOp(n.op, a, b), nil
}

// compareOp applies a comparator; a missing attribute (nil) compares false,
// except that it differs from anything.
func compareOp(op string, a, b types.AttributeValue) bool {
	if a == nil || b == nil {
		return op == "<>" && (a == nil) != (b == nil)
	}
	c, comparable := compare(a, b)
	switch op {
	case "=":
		return comparable && c == 0
	case "<>":
		return !comparable || c != 0
	}
	if !comparable {
		return false
	}
	switch op {
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	}
	return false
}

// compare orders two scalar values of the same type (S, N or B); comparable is
// false for different types (DynamoDB: never equal) and for other types unless
// they are equal as written (BOOL, NULL).
func compare(a, b types.AttributeValue) (c int, comparable bool) {
	switch x := a.(type) {
	case *types.AttributeValueMemberS:
		if y, ok := b.(*types.AttributeValueMemberS); ok {
			return strings.Compare(x.Value, y.Value), true
		}
	case *types.AttributeValueMemberN:
		if y, ok := b.(*types.AttributeValueMemberN); ok {
			return compareNumbers(x.Value, y.Value), true
		}
	case *types.AttributeValueMemberB:
		if y, ok := b.(*types.AttributeValueMemberB); ok {
			return bytes.Compare(x.Value, y.Value), true
		}
	case *types.AttributeValueMemberBOOL:
		if y, ok := b.(*types.AttributeValueMemberBOOL); ok && x.Value == y.Value {
			return 0, true
		}
	}
	return 0, false
}

func compareNumbers(a, b string) int {
	if a == b {
		return 0
	}
	if isDigits(a) && isDigits(b) && (len(a) == 1 || a[0] != '0') && (len(b) == 1 || b[0] != '0') {
		// Non-negative integers without leading zeros: longer is larger.
		if len(a) != len(b) {
			if len(a) < len(b) {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	}
	x, err1 := strconv.ParseFloat(a, 64)
	y, err2 := strconv.ParseFloat(b, 64)
	if err1 != nil || err2 != nil {
		return strings.Compare(a, b)
	}
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// tokens splits an expression into identifiers, placeholders, punctuation and
// comparators.
func tokens(s string) ([]string, error) {
	var out []string
	for i := 0; i < len(s); {
		r := rune(s[i])
		switch {
		case unicode.IsSpace(r):
			i++
		case strings.ContainsRune("(),", r):
			out = append(out, s[i:i+1])
			i++
		case r == '=':
			out = append(out, "=")
			i++
		case r == '<' || r == '>':
			j := i + 1
			if j < len(s) && (s[j] == '=' || (r == '<' && s[j] == '>')) {
				j++
			}
			out = append(out, s[i:j])
			i = j
		case r == '#' || r == ':' || r == '_' || unicode.IsLetter(r):
			j := i + 1
			for j < len(s) && (s[j] == '_' || s[j] == '.' || unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j]))) {
				j++
			}
			out = append(out, s[i:j])
			i = j
		default:
			return nil, fmt.Errorf("unexpected %q at %d", r, i)
		}
	}
	return out, nil
}

type parser struct {
	toks []string
	pos  int
}

func (p *parser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *parser) next() string {
	t := p.peek()
	p.pos++
	return t
}

func (p *parser) expect(t string) error {
	if got := p.next(); got != t {
		return fmt.Errorf("expected %q, got %q", t, got)
	}
	return nil
}

func parseCondition(expr string) (node, error) {
	toks, err := tokens(expr)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, fmt.Errorf("unexpected %q", p.peek())
	}
	return n, nil
}

func (p *parser) or() (node, error) {
	return p.chain("OR", p.and, func(a, b node) node { return orNode{a, b} })
}

func (p *parser) and() (node, error) {
	return p.chain("AND", p.unary, func(a, b node) node { return andNode{a, b} })
}

// chain parses operands (sub) joined by the keyword op, left to right.
func (p *parser) chain(op string, sub func() (node, error), join func(a, b node) node) (node, error) {
	n, err := sub()
	for err == nil && strings.EqualFold(p.peek(), op) {
		p.next()
		var b node
		if b, err = sub(); err == nil {
			n = join(n, b)
		}
	}
	return n, err
}

func (p *parser) operand() (operand, error) {
	t := p.next()
	if t == "" || strings.ContainsAny(t, "(),=<>") {
		return "", fmt.Errorf("expected an operand, got %q", t)
	}
	return operand(t), nil
}

func (p *parser) unary() (node, error) {
	switch t := p.peek(); {
	case strings.EqualFold(t, "NOT"):
		p.next()
		n, err := p.unary()
		return notNode{n}, err
	case t == "(":
		p.next()
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		return n, p.expect(")")
	case t == "attribute_exists" || t == "attribute_not_exists" || t == "begins_with":
		p.next()
		if err := p.expect("("); err != nil {
			return nil, err
		}
		a, err := p.operand()
		if err != nil {
			return nil, err
		}
		var n node = existsNode{path: a, want: t == "attribute_exists"}
		if t == "begins_with" {
			if err := p.expect(","); err != nil {
				return nil, err
			}
			b, err := p.operand()
			if err != nil {
				return nil, err
			}
			n = beginsNode{a, b}
		}
		return n, p.expect(")")
	}
	a, err := p.operand()
	if err != nil {
		return nil, err
	}
	op := p.next()
	switch op {
	case "=", "<>", "<", "<=", ">", ">=":
	default:
		return nil, fmt.Errorf("expected a comparator, got %q", op)
	}
	b, err := p.operand()
	return cmpNode{op: op, a: a, b: b}, err
}

// update is a parsed update expression.
type update struct {
	set    [][2]operand // path, value
	remove []operand
	add    [][2]operand // path, number
}

func parseUpdate(expr string) (*update, error) {
	toks, err := tokens(expr)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	u := &update{}
	for p.pos < len(p.toks) {
		switch clause := strings.ToUpper(p.next()); clause {
		case "SET":
			for {
				path, err := p.operand()
				if err != nil {
					return nil, err
				}
				if err := p.expect("="); err != nil {
					return nil, err
				}
				v, err := p.operand()
				if err != nil {
					return nil, err
				}
				u.set = append(u.set, [2]operand{path, v})
				if p.peek() != "," {
					break
				}
				p.next()
			}
		case "REMOVE":
			for {
				path, err := p.operand()
				if err != nil {
					return nil, err
				}
				u.remove = append(u.remove, path)
				if p.peek() != "," {
					break
				}
				p.next()
			}
		case "ADD":
			for {
				path, err := p.operand()
				if err != nil {
					return nil, err
				}
				v, err := p.operand()
				if err != nil {
					return nil, err
				}
				u.add = append(u.add, [2]operand{path, v})
				if p.peek() != "," {
					break
				}
				p.next()
			}
		default:
			return nil, fmt.Errorf("unsupported update clause %q", clause)
		}
	}
	return u, nil
}

func (u *update) apply(item map[string]types.AttributeValue, e *env) error {
	for _, s := range u.set {
		name, err := e.name(string(s[0]))
		if err != nil {
			return err
		}
		v, err := s[1].resolve(item, e)
		if err != nil {
			return err
		}
		if v == nil {
			return fmt.Errorf("SET %s: the value is missing", name)
		}
		item[name] = v
	}
	for _, a := range u.add {
		name, err := e.name(string(a[0]))
		if err != nil {
			return err
		}
		v, err := a[1].resolve(item, e)
		if err != nil {
			return err
		}
		inc, ok := v.(*types.AttributeValueMemberN)
		if !ok {
			return fmt.Errorf("ADD %s: only numbers are supported", name)
		}
		cur := "0"
		if old, ok := item[name].(*types.AttributeValueMemberN); ok {
			cur = old.Value
		} else if item[name] != nil {
			return fmt.Errorf("ADD %s: the attribute is not a number", name)
		}
		x, err1 := strconv.ParseFloat(cur, 64)
		y, err2 := strconv.ParseFloat(inc.Value, 64)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("ADD %s: not a number", name)
		}
		item[name] = &types.AttributeValueMemberN{Value: strconv.FormatFloat(x+y, 'f', -1, 64)}
	}
	for _, r := range u.remove {
		name, err := e.name(string(r))
		if err != nil {
			return err
		}
		delete(item, name)
	}
	return nil
}

// pred is a condition bound to one request's names and values, evaluated per
// item without looking either up again.
type pred func(item map[string]types.AttributeValue) bool

// value is an operand bound to a request: a fixed value, or an attribute's.
type value func(item map[string]types.AttributeValue) types.AttributeValue

func (o operand) bind(e *env) (value, error) {
	s := string(o)
	if strings.HasPrefix(s, ":") {
		v, ok := e.values[s]
		if !ok {
			return nil, fmt.Errorf("undefined expression attribute value %s", s)
		}
		return func(map[string]types.AttributeValue) types.AttributeValue { return v }, nil
	}
	name, err := e.name(s)
	if err != nil {
		return nil, err
	}
	return func(item map[string]types.AttributeValue) types.AttributeValue { return item[name] }, nil
}

// bind binds a parsed condition to a request's names and values.
func bind(n node, e *env) (pred, error) {
	switch x := n.(type) {
	case orNode:
		a, err := bind(x.a, e)
		if err != nil {
			return nil, err
		}
		b, err := bind(x.b, e)
		if err != nil {
			return nil, err
		}
		return func(it map[string]types.AttributeValue) bool { return a(it) || b(it) }, nil
	case andNode:
		a, err := bind(x.a, e)
		if err != nil {
			return nil, err
		}
		b, err := bind(x.b, e)
		if err != nil {
			return nil, err
		}
		return func(it map[string]types.AttributeValue) bool { return a(it) && b(it) }, nil
	case notNode:
		a, err := bind(x.a, e)
		if err != nil {
			return nil, err
		}
		return func(it map[string]types.AttributeValue) bool { return !a(it) }, nil
	}
	switch x := n.(type) {
	case existsNode:
		v, err := x.path.bind(e)
		if err != nil {
			return nil, err
		}
		want := x.want
		return func(it map[string]types.AttributeValue) bool { return (v(it) != nil) == want }, nil
	case beginsNode:
		a, err := x.a.bind(e)
		if err != nil {
			return nil, err
		}
		b, err := x.b.bind(e)
		if err != nil {
			return nil, err
		}
		return func(it map[string]types.AttributeValue) bool { return beginsWith(a(it), b(it)) }, nil
	case cmpNode:
		a, err := x.a.bind(e)
		if err != nil {
			return nil, err
		}
		b, err := x.b.bind(e)
		if err != nil {
			return nil, err
		}
		op := x.op
		return func(it map[string]types.AttributeValue) bool { return compareOp(op, a(it), b(it)) }, nil
	}
	return nil, fmt.Errorf("unknown expression node %T", n)
}
