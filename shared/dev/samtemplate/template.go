// Package samtemplate reads the project's SAM template (template.yaml): its functions,
// their HTTP API routes, schedules and EventBridge rules, and its DynamoDB tables.
//
// The template is the single description of the deployment. The local stack serves the
// routes it finds here and creates the tables it describes, and the tests hold the code
// against it, so the template and the code cannot drift apart.
package samtemplate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Template is the part of a SAM template this project relies on.
type Template struct {
	Functions  map[string]*Function // by logical id
	Tables     map[string]*Table    // by logical id
	Parameters map[string]Parameter // by name
	Resources  map[string]Resource  // every resource, by logical id
}

// Resource is any resource of the template, with its properties as plain values
// (CloudFormation's short-form tags become their long forms: !Ref x -> {"Ref": "x"}).
type Resource struct {
	Type       string
	Properties map[string]any
	Metadata   map[string]any
}

// Parameter is a template parameter.
type Parameter struct {
	Type    string
	Default any
}

// Function is an AWS::Serverless::Function.
type Function struct {
	LogicalID   string
	CodeURI     string
	BuildMethod string
	Routes      []Route
	Schedules   []Schedule
	Rules       []Rule
	// DynamoDB is what its Policies allow of DynamoDB (see AllowsDynamoDB).
	DynamoDB []DynamoDBGrant
}

// Route is one HTTP API route: a method and a path in API Gateway's syntax, where
// {name} matches one path segment and a final {name+} matches the rest of the path.
type Route struct {
	Function string
	Event    string
	Method   string
	Path     string
}

// DefaultPath is the Path of the $default route: an HttpApi event without Method
// and Path, which serves every request no other route matches.
const DefaultPath = "$default"

// Key is API Gateway's route key, "GET /api/x/{id}", or "$default".
func (r Route) Key() string {
	if r.Path == DefaultPath {
		return DefaultPath
	}
	return r.Method + " " + r.Path
}

// Schedule is a ScheduleV2 or Schedule event.
type Schedule struct {
	Event      string
	Type       string
	Expression any
}

// Rule is an EventBridgeRule event with its pattern.
type Rule struct {
	Event   string
	Pattern map[string]any
}

// Table is an AWS::DynamoDB::Table.
type Table struct {
	LogicalID    string
	Attributes   map[string]string // attribute name -> type (S, N, B)
	HashKey      string
	RangeKey     string
	Indexes      []Index
	TTLAttribute string
	BillingMode  string
	PITR         bool
	SSE          bool
}

// Index is a global secondary index.
type Index struct {
	Name       string
	HashKey    string
	RangeKey   string
	Projection string
	// NonKeyAttributes are the attributes an INCLUDE projection copies besides the keys.
	NonKeyAttributes []string
}

// Find returns the path of template.yaml at the root of the module that contains the
// working directory (the nearest parent holding both go.mod and template.yaml).
func Find() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find template: %w", err)
	}
	for {
		p := filepath.Join(dir, "template.yaml")
		if _, err := os.Stat(p); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				return p, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find template: no template.yaml beside a go.mod in any parent directory")
		}
		dir = parent
	}
}

// Load reads and interprets a SAM template file.
func Load(path string) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load template: %w", err)
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("load template %s: %w", path, err)
	}
	return t, nil
}

// ParseDocument returns the whole template as plain values, with CloudFormation's
// short-form tags rewritten to their long forms.
func ParseDocument(data []byte) (map[string]any, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("parse yaml: %w", err)
	}
	doc, err := plain(&root)
	if err != nil {
		return nil, err
	}
	top, ok := doc.(map[string]any)
	if !ok {
		return nil, errors.New("template is not a mapping")
	}
	return top, nil
}

// Parse interprets the bytes of a SAM template.
func Parse(data []byte) (*Template, error) {
	top, err := ParseDocument(data)
	if err != nil {
		return nil, err
	}
	t := &Template{
		Functions:  map[string]*Function{},
		Tables:     map[string]*Table{},
		Parameters: map[string]Parameter{},
		Resources:  map[string]Resource{},
	}
	for name, v := range mapOf(top["Parameters"]) {
		p := mapOf(v)
		t.Parameters[name] = Parameter{Type: str(p["Type"]), Default: p["Default"]}
	}
	resources := mapOf(top["Resources"])
	if len(resources) == 0 {
		return nil, errors.New("template has no Resources")
	}
	globals := mapOf(mapOf(top["Globals"])["Function"])
	for id, v := range resources {
		r := mapOf(v)
		res := Resource{Type: str(r["Type"]), Properties: mapOf(r["Properties"]), Metadata: mapOf(r["Metadata"])}
		t.Resources[id] = res
		switch res.Type {
		case "AWS::Serverless::Function":
			f, err := parseFunction(id, res, globals)
			if err != nil {
				return nil, err
			}
			t.Functions[id] = f
		case "AWS::DynamoDB::Table":
			tab, err := parseTable(id, res.Properties)
			if err != nil {
				return nil, err
			}
			t.Tables[id] = tab
		}
	}
	return t, nil
}

// Routes returns every HTTP API route of every function, sorted by path then method.
func (t *Template) Routes() []Route {
	var out []Route
	for _, f := range t.Functions {
		out = append(out, f.Routes...)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Method < out[j].Method
	})
	return out
}

func parseFunction(id string, r Resource, globals map[string]any) (*Function, error) {
	f := &Function{LogicalID: id, CodeURI: str(r.Properties["CodeUri"]), BuildMethod: str(r.Metadata["BuildMethod"])}
	var err error
	if f.DynamoDB, err = dynamoDBGrants(id, r.Properties["Policies"]); err != nil {
		return nil, err
	}
	if f.CodeURI == "" {
		f.CodeURI = str(globals["CodeUri"])
	}
	events := mapOf(r.Properties["Events"])
	names := make([]string, 0, len(events))
	for name := range events {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		ev := mapOf(events[name])
		props := mapOf(ev["Properties"])
		switch typ := str(ev["Type"]); typ {
		case "HttpApi":
			method, path := strings.ToUpper(str(props["Method"])), str(props["Path"])
			if method == "" && path == "" {
				method, path = "ANY", DefaultPath // SAM's $default route
			}
			if method == "" || path == "" {
				return nil, fmt.Errorf("function %s event %s: HttpApi event needs Method and Path, or neither (the $default route)", id, name)
			}
			f.Routes = append(f.Routes, Route{Function: id, Event: name, Method: method, Path: path})
		case "ScheduleV2", "Schedule":
			f.Schedules = append(f.Schedules, Schedule{Event: name, Type: typ, Expression: props["ScheduleExpression"]})
		case "EventBridgeRule", "CloudWatchEvent":
			f.Rules = append(f.Rules, Rule{Event: name, Pattern: mapOf(props["Pattern"])})
		}
	}
	return f, nil
}

func parseTable(id string, p map[string]any) (*Table, error) {
	t := &Table{LogicalID: id, Attributes: map[string]string{}, BillingMode: str(p["BillingMode"])}
	for _, a := range listOf(p["AttributeDefinitions"]) {
		m := mapOf(a)
		t.Attributes[str(m["AttributeName"])] = str(m["AttributeType"])
	}
	var err error
	if t.HashKey, t.RangeKey, err = keySchema(listOf(p["KeySchema"])); err != nil {
		return nil, fmt.Errorf("table %s: %w", id, err)
	}
	for _, g := range listOf(p["GlobalSecondaryIndexes"]) {
		m := mapOf(g)
		proj := mapOf(m["Projection"])
		idx := Index{Name: str(m["IndexName"]), Projection: str(proj["ProjectionType"])}
		for _, a := range listOf(proj["NonKeyAttributes"]) {
			idx.NonKeyAttributes = append(idx.NonKeyAttributes, str(a))
		}
		if idx.HashKey, idx.RangeKey, err = keySchema(listOf(m["KeySchema"])); err != nil {
			return nil, fmt.Errorf("table %s index %s: %w", id, idx.Name, err)
		}
		t.Indexes = append(t.Indexes, idx)
	}
	if ttl := mapOf(p["TimeToLiveSpecification"]); ttl["Enabled"] == true {
		t.TTLAttribute = str(ttl["AttributeName"])
	}
	t.PITR = mapOf(p["PointInTimeRecoverySpecification"])["PointInTimeRecoveryEnabled"] == true
	t.SSE = mapOf(p["SSESpecification"])["SSEEnabled"] == true
	return t, nil
}

func keySchema(items []any) (hash, rng string, err error) {
	for _, k := range items {
		m := mapOf(k)
		switch str(m["KeyType"]) {
		case "HASH":
			hash = str(m["AttributeName"])
		case "RANGE":
			rng = str(m["AttributeName"])
		}
	}
	if hash == "" {
		return "", "", errors.New("key schema has no HASH key")
	}
	return hash, rng, nil
}

// plain turns a YAML node into maps, slices and scalars, rewriting CloudFormation's
// short-form intrinsic functions into their long forms.
func plain(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return plain(n.Content[0])
	case yaml.AliasNode:
		return plain(n.Alias)
	}
	custom := strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!")
	var v any
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			val, err := plain(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = val
		}
		v = m
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			val, err := plain(c)
			if err != nil {
				return nil, err
			}
			s = append(s, val)
		}
		v = s
	case yaml.ScalarNode:
		if custom {
			v = n.Value
		} else if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
	}
	if !custom {
		return v, nil
	}
	name := strings.TrimPrefix(n.Tag, "!")
	switch name {
	case "Ref", "Condition":
		return map[string]any{name: v}, nil
	case "GetAtt":
		if s, ok := v.(string); ok {
			resource, attr, _ := strings.Cut(s, ".")
			return map[string]any{"Fn::GetAtt": []any{resource, attr}}, nil
		}
		return map[string]any{"Fn::GetAtt": v}, nil
	default:
		return map[string]any{"Fn::" + name: v}, nil
	}
}

func mapOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func listOf(v any) []any {
	l, _ := v.([]any)
	return l
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
