package main

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/workerfleet/workerfleet/shared/dev/samtemplate"
)

// lambdaFunction is what the template says about one function's runtime: its
// environment variables (Globals and its own, intrinsic functions unresolved), its
// memory size and its timeout.
type lambdaFunction struct {
	LogicalID string
	Env       map[string]any
	MemoryMB  int
	TimeoutS  int
}

// readTemplateDocument reads the template file as plain values (intrinsic functions
// unresolved), for lambdaFunctionOf and localDeployment.environment.
func readTemplateDocument(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the template: %w", err)
	}
	doc, err := samtemplate.ParseDocument(data)
	if err != nil {
		return nil, fmt.Errorf("read the template: %w", err)
	}
	return doc, nil
}

// lambdaFunctionOf is a function's runtime settings in the template document.
func lambdaFunctionOf(doc map[string]any, id string) (*lambdaFunction, error) {
	globals := asMap(asMap(doc["Globals"])["Function"])
	props := asMap(asMap(asMap(doc["Resources"])[id])["Properties"])
	if props == nil {
		return nil, fmt.Errorf("the template has no function %s", id)
	}
	f := &lambdaFunction{LogicalID: id, Env: map[string]any{}, MemoryMB: 128, TimeoutS: 3}
	for _, src := range []map[string]any{globals, props} {
		for k, v := range asMap(asMap(src["Environment"])["Variables"]) {
			f.Env[k] = v
		}
		if n, ok := intSetting(doc, src["MemorySize"]); ok {
			f.MemoryMB = n
		}
		if n, ok := intSetting(doc, src["Timeout"]); ok {
			f.TimeoutS = n
		}
	}
	return f, nil
}

// intSetting is a function setting's number: given, or a Ref to a parameter's
// default.
func intSetting(doc map[string]any, v any) (int, bool) {
	if ref, ok := asMap(v)["Ref"].(string); ok {
		v = asMap(asMap(doc["Parameters"])[ref])["Default"]
	}
	switch n := v.(type) {
	case int:
		return n, true
	case string:
		i, err := strconv.Atoi(n)
		return i, err == nil
	}
	return 0, false
}

// localDeployment is what the template's references mean on this machine.
type localDeployment struct {
	// Tables maps a table's logical id to its local name.
	Tables map[string]string
	// Overrides set variables outright (the root URL, the regions ...).
	Overrides map[string]string
	// Parameters are the template's parameters (their defaults apply unless set here).
	Parameters map[string]string
}

// environment resolves a function's template variables for this machine: a Ref to a
// table is its local name, a Ref to a parameter is its value or default, a Ref to any
// other resource (a secret) is a placeholder the function does not use when given its
// values directly; anything else must be overridden, or it is an error naming it.
func (d localDeployment) environment(f *lambdaFunction, doc map[string]any) (map[string]string, error) {
	params := asMap(doc["Parameters"])
	resources := asMap(doc["Resources"])
	out := map[string]string{}
	var problems []string
	for name, v := range f.Env {
		if o, ok := d.Overrides[name]; ok {
			out[name] = o
			continue
		}
		s, err := d.resolve(v, params, resources)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		out[name] = s
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, fmt.Errorf("%s: cannot give these template variables a local value: %s", f.LogicalID, strings.Join(problems, "; "))
	}
	return out, nil
}

func (d localDeployment) resolve(v any, params, resources map[string]any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case int, float64, bool:
		return fmt.Sprint(v), nil
	case map[string]any:
		if ref, ok := v["Ref"].(string); ok {
			return d.ref(ref, params, resources)
		}
		if join, ok := v["Fn::Join"].([]any); ok && len(join) == 2 {
			sep, _ := join[0].(string)
			var parts []string
			items, ok := join[1].([]any)
			if !ok {
				items = []any{join[1]}
			}
			for _, it := range items {
				s, err := d.resolve(it, params, resources)
				if err != nil {
					return "", err
				}
				parts = append(parts, s)
			}
			return strings.Join(parts, sep), nil
		}
	}
	return "", errors.New("an intrinsic function the local stack does not evaluate")
}

func (d localDeployment) ref(name string, params, resources map[string]any) (string, error) {
	if t, ok := d.Tables[name]; ok {
		return t, nil
	}
	if p, ok := d.Parameters[name]; ok {
		return p, nil
	}
	if p, ok := params[name]; ok {
		def, ok := asMap(p)["Default"]
		if !ok {
			return "", fmt.Errorf("parameter %s has no default", name)
		}
		switch def := def.(type) {
		case []any:
			parts := make([]string, len(def))
			for i, x := range def {
				parts[i] = fmt.Sprint(x)
			}
			return strings.Join(parts, ","), nil
		case int:
			return strconv.Itoa(def), nil
		}
		return fmt.Sprint(def), nil
	}
	if r, ok := resources[name]; ok {
		if typ, _ := asMap(r)["Type"].(string); typ == "AWS::DynamoDB::Table" {
			return "", fmt.Errorf("table %s has no local table", name)
		}
		return "local-" + name, nil
	}
	return "", fmt.Errorf("%s is neither a parameter nor a resource", name)
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}
